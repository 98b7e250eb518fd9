"""``lcvg play`` (drive an env with the keyboard) and ``lcvg rollout`` (record a policy to mp4).

Heavy imports (torch via the env, pygame, moviepy) happen inside the commands: ``lcvg_env/cli.py``
imports this module at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

EnvIdArg = Annotated[str, typer.Argument(help="Environment id, e.g. LCVG-Pusher-v0.")]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="Checkpoint file; default: resolved from the id's model name."),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the first reset.")]
ScaleOpt = Annotated[
    int | None, typer.Option(help="Integer upscaling of the frames (default: up to 512 px).")
]
TaskOpt = Annotated[str | None, typer.Option(help="Reward task: reach or none (default: the env's).")]


def make_env(env_id: str, checkpoint: Path | None, task: str | None) -> Any:
    """``gymnasium.make`` with the rgb_array render mode and the given overrides."""
    import gymnasium

    import lcvg_env  # noqa: F401  (registers the ids)

    kwargs: dict[str, Any] = {"render_mode": "rgb_array"}
    if checkpoint is not None:
        kwargs["checkpoint"] = str(checkpoint)
    if task is not None:
        kwargs["task"] = task
    return gymnasium.make(env_id, **kwargs)


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
        raise typer.BadParameter(f"--policy {spec!r}: give 2 values (DX,DY) or {dims} (the full action).")
    return np.asarray(values, dtype=np.float32)


def _constant_action(env: Any, values: np.ndarray) -> np.ndarray:
    controls = env.unwrapped.core.controls
    if len(values) == controls.dims:
        return values
    # two values: the translation part, the rest of the action at the identity
    return controls.discrete(0) + values[0] * controls.discrete(4) + values[1] * controls.discrete(2)


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
) -> None:
    """Run a policy in an env for N steps and write the observations to an mp4 (moviepy)."""
    from lcvg_env.env.render import auto_scale, write_video

    env = make_env(env_id, checkpoint, task)
    fixed = parse_policy(policy, env.action_space.shape[0])
    action = None if fixed is None else _constant_action(env, fixed)
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
    env.close()
    size = obs.shape[:2]
    path = write_video(frames, out, fps or env.metadata.get("render_fps", 15), scale or auto_scale(size))
    typer.echo(f"{path}: {len(frames)} frames, {steps} steps, {episodes} episode(s), return {total:.3f}")


def keys_to_action(left: bool, right: bool, up: bool, down: bool, controls: Any) -> np.ndarray:
    """Arrow keys -> an action (dims,): full-speed translation, diagonals when two keys are held."""
    dx, dy = float(right) - float(left), float(down) - float(up)
    return controls.discrete(0) + dx * controls.discrete(4) + dy * controls.discrete(2)


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
) -> None:
    """Drive an env in real time: arrow keys move the foreground, r resets, q or Esc quits."""
    from lcvg_env.env.render import HumanWindow, write_video

    env = make_env(env_id, checkpoint, task)
    rate = fps or env.metadata.get("render_fps", 15)
    obs, _ = env.reset(seed=seed)
    window = HumanWindow(obs.shape[:2], scale, f"lcvg play {env_id} (arrows, r: reset, q: quit)", rate)
    controls, frames, step = env.unwrapped.core.controls, [obs], 0
    try:
        while max_steps <= 0 or step < max_steps:
            command = _poll(window.pygame)
            if command == "quit":
                break
            if command == "reset":
                obs, _ = env.reset()
            else:
                keys = window.pygame.key.get_pressed()
                k = window.pygame
                action = keys_to_action(
                    keys[k.K_LEFT], keys[k.K_RIGHT], keys[k.K_UP], keys[k.K_DOWN], controls
                )
                obs, _, terminated, truncated, _ = env.step(action)
                step += 1
                if terminated or truncated:
                    obs, _ = env.reset()
            frames.append(obs)
            window.show(obs)
    finally:
        window.close()
        env.close()
    if record is not None:
        typer.echo(f"saved {write_video(frames, record, rate, window.scale)} ({len(frames)} frames)")


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
