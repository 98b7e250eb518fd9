"""``lcvg play`` (drive an env with the keyboard) and ``lcvg rollout`` (record a policy to mp4).

Heavy imports (torch via the env, pygame, moviepy) happen inside the commands: ``lcvg_env/cli.py``
imports this module at start-up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from lcvg_env.cli_options import DEVICE_DEFAULT, THREADS_DEFAULT, Device, EnvCheckpoint, Threads

if TYPE_CHECKING:
    import numpy as np

EnvIdArg = Annotated[str, typer.Argument(help="Environment id, e.g. LCVG-Pusher-v0.")]
CheckpointOpt = EnvCheckpoint
SeedOpt = Annotated[int, typer.Option(help="Seed of the first reset.")]
ScaleOpt = Annotated[
    int | None, typer.Option(help="Integer upscaling of the frames (default: up to 512 px).")
]
TaskOpt = Annotated[
    str | None,
    typer.Option(help="Reward task: reach, reach_each (--players 2+) or none (default: the env's)."),
]
PlayersOpt = Annotated[
    int | None,
    typer.Option(help="Foregrounds moved separately, one control each (default: the env's, 1)."),
]
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
"""Containers of the H.264 video ``write_video`` writes."""
PLAY_KEYS = "arrows: move   r: reset   q/Esc: quit"
"""The keys of ``lcvg play``: printed at start, drawn under the frame and in the window title."""
PLAYER_KEYS = (("arrows", ("K_LEFT", "K_RIGHT", "K_UP", "K_DOWN")), ("WASD", ("K_a", "K_d", "K_w", "K_s")))
"""Key sets of ``lcvg play`` per foreground: (name, pygame keys left/right/up/down), player 0 first."""


def play_keys(players: int) -> str:
    """The keys line of ``lcvg play`` for ``players`` foregrounds (:data:`PLAY_KEYS` for one)."""
    if players == 1:
        return PLAY_KEYS
    moves = "   ".join(f"player {k}: {name}" for k, (name, _) in enumerate(PLAYER_KEYS[:players]))
    return f"{moves}   r: reset   q/Esc: quit"


def make_env(
    env_id: str,
    checkpoint: str | None,
    task: str | None,
    threads: int | None = None,
    players: int | None = None,
    device: str = "cpu",
) -> Any:
    """``gymnasium.make`` with the rgb_array render mode and the given overrides (``threads`` None: the
    single env's default, 1); says on stderr which model file the env runs on.

    The MuJoCo pusher takes only the options it has (:func:`mujoco_overrides`): ``--threads`` sets torch's
    threads for the process (its learned criterion's compute), and ``--task``/``--players`` other than its
    own reach task with one foreground raise ``ValueError`` before anything loads."""
    import gymnasium

    import lcvg_env  # noqa: F401  (registers the ids)
    from lcvg_env.env.registration import ENV_IDS, MUJOCO_ENV_ID
    from lcvg_env.model import env_model_path
    from lcvg_env.runtime import resolve_device

    lcvg_ids = [e.id for e in (*ENV_IDS, MUJOCO_ENV_ID)]
    if env_id in gymnasium.registry and env_id not in lcvg_ids:
        raise ValueError(
            f"{env_id} is not an lcvg env; play and rollout run these ids: {', '.join(lcvg_ids)}."
        )
    kwargs: dict[str, Any] = {"render_mode": "rgb_array", "device": resolve_device(device)}
    if checkpoint is not None:
        kwargs["checkpoint"] = str(checkpoint)
    if env_id == MUJOCO_ENV_ID.id:
        mujoco_overrides(env_id, task, threads, players)
    else:
        overrides = {"threads": threads, "task": task, "players": players}
        kwargs.update({key: value for key, value in overrides.items() if value is not None})
    env_model_path(env_id, checkpoint)  # which file, said before the model loads
    return gymnasium.make(env_id, **kwargs)


MUJOCO_FIXED = {"task": "reach", "players": 1}
"""What the MuJoCo pusher always runs: the reach task with one foreground (no keyword changes it)."""


def mujoco_overrides(env_id: str, task: str | None, threads: int | None, players: int | None) -> None:
    """Apply the command's options to the MuJoCo pusher ``env_id``, which has no ``task``, ``threads`` or
    ``players`` keyword: ``--threads`` becomes torch's thread count for the process (the env's only torch
    compute is its learned criterion); ``--task``/``--players`` are accepted only when they name what the
    env does anyway (:data:`MUJOCO_FIXED`), else a ``ValueError`` names the option and the id."""
    from lcvg_env.runtime import set_threads

    for option, value in (("task", task), ("players", players)):
        if value is not None and value != MUJOCO_FIXED[option]:
            raise ValueError(
                f"{env_id} runs the reach task with one foreground: it has no --{option} {value}; "
                f"drop --{option} (or pass --{option} {MUJOCO_FIXED[option]})."
            )
    set_threads(threads)


def check_video_path(path: Path, option: str) -> Path:
    """A video file that can be written (checked before the env is built): an mp4/mkv/mov path in a
    folder that exists or can be made, not a folder itself."""
    from lcvg_env.outputs import OutputError, check_output_file

    example = {"--record": "session.mp4", "--video": "eval.mp4"}.get(option, "rollout.mp4")
    check_output_file(path, option, example=example)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(f"{option} {path}: give a video file ending in {', '.join(VIDEO_SUFFIXES)}.")
    return path


def fail(error: BaseException) -> NoReturn:
    """One line on stderr and exit code 1: what was wrong and what to do, no traceback."""
    import gymnasium

    from lcvg_env.env.registration import ENV_IDS

    hint = ""
    if isinstance(error, gymnasium.error.Error):  # an unknown or misspelt id
        hint = f" The lcvg ids: {', '.join(e.id for e in ENV_IDS)}."
    typer.echo(f"Error: {error}{hint}", err=True)
    raise typer.Exit(1) from error


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors a user's input causes: bad ids, checkpoints, options, paths (reported by :func:`fail`)."""
    import gymnasium

    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.env.render import NoDisplayError

    return (ValueError, ImportError, OSError, CheckpointError, NoDisplayError, gymnasium.error.Error)


def parse_policy(spec: str, dims: int) -> np.ndarray | None:
    """``random`` -> None; ``constant:DX,DY[,...]`` -> a fixed action (2 values: the translation part)."""
    if spec == "random":
        return None
    if not spec.startswith("constant:"):
        raise typer.BadParameter(f"--policy must be 'random' or 'constant:DX,DY', got {spec!r}.")
    try:
        values = [float(v) for v in spec.removeprefix("constant:").split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"--policy {spec!r}: the constant values must be numbers, e.g. constant:0.5,-1"
        ) from None
    if len(values) not in (2, dims):
        full = "" if dims == 2 else f" or {dims} (the full action)"
        raise typer.BadParameter(f"--policy {spec!r}: give 2 values (DX,DY){full}, e.g. constant:0.5,-1.")
    if not all(math.isfinite(v) for v in values) or max(abs(v) for v in values) > 1:
        raise typer.BadParameter(f"--policy {spec!r}: the values must be finite numbers in [-1, 1].")
    import numpy as np  # not at start-up: the CLI imports this module

    return np.asarray(values, dtype=np.float32)


def _constant_action(env: Any, values: np.ndarray) -> np.ndarray:
    controls = env.unwrapped.controls
    if len(values) == controls.action_dims:
        return values
    # two values: the translation part of every foreground's control, the rest at the identity
    return sum(
        values[0] * controls.discrete(4, k) + values[1] * controls.discrete(2, k)
        for k in range(controls.players)
    )


def rollout(
    env_id: EnvIdArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="mp4 file to write.")] = Path("rollout.mp4"),
    policy: Annotated[
        str, typer.Option(help="random, or constant:DX,DY (action units in [-1, 1]).")
    ] = "random",
    steps: Annotated[int, typer.Option(min=1, help="Environment steps to record.")] = 100,
    checkpoint: CheckpointOpt = None,
    seed: SeedOpt = 0,
    fps: Annotated[
        float | None, typer.Option(help="Video frame rate (default: the env's render_fps).")
    ] = None,
    scale: ScaleOpt = None,
    task: TaskOpt = None,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    players: PlayersOpt = None,
) -> None:
    """Run a policy in an env for N steps and write the observations to an mp4 (moviepy)."""
    from lcvg_env.env.render import auto_scale, write_video
    from lcvg_env.runtime import check_threads

    try:
        check_threads(threads)
        check_video_path(out, "--out")
        check_rates(fps, scale)
        env = make_env(env_id, checkpoint, task, threads, players, device)
        fixed = parse_policy(policy, env.action_space.shape[0])
        frames, total, episodes = _record(
            env, steps, seed, None if fixed is None else _constant_action(env, fixed)
        )
        env.close()
        size = frames[-1].shape[:2]
        path = write_video(frames, out, fps or env.metadata.get("render_fps", 15), scale or auto_scale(size))
    except user_errors() as e:
        fail(e)
    typer.echo(f"{path}: {len(frames)} frames, {steps} steps, {episodes} episode(s), return {total:.3f}")


def _record(
    env: Any, steps: int, seed: int, action: np.ndarray | None
) -> tuple[list[np.ndarray], float, int]:
    """Observations of ``steps`` steps from a seeded reset (resetting at episode ends), the summed reward
    and the number of episodes begun."""
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    frames, total, episodes = [obs], 0.0, 1
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(
            env.action_space.sample() if action is None else action
        )
        frames.append(obs)
        total += float(reward)
        if terminated or truncated:
            obs, _ = env.reset()
            frames.append(obs)
            episodes += 1
    return frames, total, episodes


MAX_SCALE = 16
"""The largest ``--scale``: a 64x64 frame shown or recorded at 1024x1024."""


def check_rates(fps: float | None, scale: int | None) -> None:
    """--fps a finite number > 0 and --scale an integer >= 1 (None: the default)."""
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"--fps must be a number > 0, got {fps}.")
    if scale is not None and not 1 <= scale <= MAX_SCALE:
        raise ValueError(
            f"--scale must be an integer from 1 to {MAX_SCALE} (frames of 64 px: 1024 px), got {scale}."
        )


def keys_to_action(
    left: bool, right: bool, up: bool, down: bool, controls: Any, player: int = 0
) -> np.ndarray:
    """Arrow keys -> an action (K * dims,) moving foreground ``player``: full-speed translation, diagonals
    when two keys are held, the other foregrounds' controls at the no-op."""
    dx, dy = float(right) - float(left), float(down) - float(up)
    return controls.discrete(0) + dx * controls.discrete(4, player) + dy * controls.discrete(2, player)


def pressed_action(pygame: Any, controls: Any) -> np.ndarray:
    """The action of the keys held now: one key set of :data:`PLAYER_KEYS` per foreground."""
    keys = pygame.key.get_pressed()
    action = controls.discrete(0)
    for k, (_, names) in enumerate(PLAYER_KEYS[: controls.players]):
        action = action + keys_to_action(*(keys[getattr(pygame, n)] for n in names), controls, k)
    return action


def play(
    env_id: EnvIdArg,
    checkpoint: CheckpointOpt = None,
    seed: SeedOpt = 0,
    scale: ScaleOpt = None,
    fps: Annotated[
        float | None, typer.Option(help="Steps per second (default: the env's render_fps).")
    ] = None,
    record: Annotated[Path | None, typer.Option(help="Save the session to this mp4 on exit.")] = None,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (0: until q/Esc).")] = 0,
    task: TaskOpt = None,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    players: PlayersOpt = None,
) -> None:
    """Drive an env in real time: arrow keys move the foreground, r resets, q or Esc quits. With
    ``--players 2`` the arrows move foreground 0 and W/A/S/D foreground 1.

    Needs a display; on a machine without one it stops at once and says to use ``lcvg rollout``.
    """
    from lcvg_env.env.render import HumanWindow, check_display, import_pygame, write_video
    from lcvg_env.runtime import check_threads

    try:
        check_threads(threads)
        if record is not None:
            check_video_path(record, "--record")
        check_rates(fps, scale)
        import_pygame()  # before the model loads: a missing extra or a missing display fails at once
        check_display()
        if players is not None and players > len(PLAYER_KEYS):
            raise ValueError(
                f"lcvg play has key sets for up to {len(PLAYER_KEYS)} players, got --players {players}."
            )
        env = make_env(env_id, checkpoint, task, threads, players, device)
    except user_errors() as e:
        fail(e)
    rate = fps or env.metadata.get("render_fps", 15)
    keys_line = play_keys(env.unwrapped.controls.players)
    obs, _ = env.reset(seed=seed)
    try:
        window = HumanWindow(obs.shape[:2], scale, f"lcvg play {env_id} ({keys_line})", rate, keys_line)
    except user_errors() as e:
        env.close()
        fail(e)
    typer.echo(f"lcvg play {env_id}: {keys_line}")
    controls, frames, step = env.unwrapped.controls, [obs], 0
    try:
        while max_steps <= 0 or step < max_steps:
            command = _poll(window.pygame)
            if command == "quit":
                break
            if command == "reset":
                obs, _ = env.reset()
            else:
                obs, _, terminated, truncated, _ = env.step(pressed_action(window.pygame, controls))
                step += 1
                if terminated or truncated:
                    obs, _ = env.reset()
            frames.append(obs)
            window.show(obs)
    finally:
        window.close()
        env.close()
    if record is not None:
        try:
            typer.echo(f"saved {write_video(frames, record, rate, window.scale)} ({len(frames)} frames)")
        except user_errors() as e:
            fail(e)


def _poll(pygame: Any) -> str | None:
    """Handle window events: 'quit' (window closed, q, Esc), 'reset' (r) or None."""
    command = None
    for event in pygame.event.get():
        if event.type == pygame.QUIT or (
            event.type == pygame.KEYDOWN and event.key in (pygame.K_q, pygame.K_ESCAPE)
        ):
            return "quit"
        if event.type == pygame.KEYDOWN and event.key == pygame.K_r:
            command = "reset"
    return command
