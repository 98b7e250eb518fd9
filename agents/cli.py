"""``lcvg agent``: train RL agents inside the learned simulator and evaluate them.

    lcvg agent train LCVG-Pusher-v0 --algo ppo --timesteps 200000 --n-envs 8 --out runs/agents/ppo
    lcvg agent eval runs/agents/ppo LCVG-Pusher-v0 --episodes 50 --json ppo.json
    lcvg agent eval scripted LCVG-Pusher-v0 --episodes 50 --json scripted.json
    lcvg agent eval random LCVG-Pusher-v0 --episodes 50 --json random.json
    lcvg agent eval runs/agents/ppo LCVG-PusherMuJoCo-v0 --episodes 50      # the real pusher (MuJoCo)
    lcvg agent eval scripted-detector LCVG-Pusher-v0 --real-starts           # from MuJoCo's start states
    lcvg agent convert old_run/model.zip --out old_run --trust-pickle  # SB3 .zip -> model.json + weights

Heavy imports (torch, stable-baselines3) happen inside the commands: ``lcvg`` imports this module at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from lcvg_env.cli_options import (
    DEVICE_DEFAULT,
    THREADS_DEFAULT,
    Device,
    EnvCheckpoint,
    JsonOut,
    NEnvs,
    OutArgAlias,
    Progress,
    Threads,
    out_path,
    with_checkpoint,
)

app = typer.Typer(
    help="Train stable-baselines3 agents in an LCVG environment and evaluate them (or the baselines).",
    no_args_is_help=True,
)

TrustPickle = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Load a pickled stable-baselines3 .zip: unpickling runs any code the file holds; "
        "only for files you trust.",
    ),
]
EnvKwargs = Annotated[
    list[str] | None,
    typer.Option(
        "--env-kwargs", help="Env keyword as key=value (repeatable), e.g. checkpoint=model.safetensors."
    ),
]


@app.command("train")
def train_command(
    env_id: Annotated[
        str,
        typer.Argument(
            help="A learned simulator's id, e.g. LCVG-Pusher-v0 (LCVG-PusherMuJoCo-v0: agent eval only)."
        ),
    ],
    checkpoint: EnvCheckpoint = None,
    algo: Annotated[str, typer.Option(help="ppo, sac or dqn (discrete controls).")] = "ppo",
    timesteps: Annotated[int, typer.Option(help="Environment steps to train for.")] = 200_000,
    n_envs: NEnvs = 8,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder (default runs/agents/{env}__{algo}__{seed}__{time}).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    env_kwargs: EnvKwargs = None,
    hp: Annotated[
        list[str] | None, typer.Option(help="Algorithm hyperparameter as key=value (repeatable).")
    ] = None,
    eval_freq: Annotated[int, typer.Option(help="Evaluate every N env steps (0: never).")] = 10_000,
    eval_episodes: Annotated[int, typer.Option(help="Episodes per evaluation.")] = 8,
    checkpoint_freq: Annotated[
        int, typer.Option(help="Save the agent every N env steps (0: never).")
    ] = 50_000,
    video_episodes: Annotated[int, typer.Option(help="Episodes in the final video.mp4 (0: none).")] = 2,
    features: Annotated[
        str,
        typer.Option(
            help="Features extractor: auto (keypoints on dict observations, coord on pixels), coord "
            "(any size), keypoints (spatial softmax, cheap), nature, or goals (dict goal vectors only)."
        ),
    ] = "auto",
    features_dim: Annotated[
        int | None, typer.Option(help="Features width (default: 256, or 32 for keypoints).")
    ] = None,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    time_limit_min: Annotated[
        float | None,
        typer.Option(
            help="Stop learning after this many minutes, then save and evaluate (default: no limit)."
        ),
    ] = None,
    progress: Progress = True,
) -> None:
    """Train an agent with stable-baselines3; writes the model, checkpoints, TensorBoard logs and a video."""
    from lcvg_env.atomic import is_disk_full
    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.model import env_model_path
    from lcvg_env.outputs import OutputError, check_output_dir, describe_os_error
    from lcvg_env.runtime import resolve_device

    from .config import Args, parse_key_values
    from .envs import check_trainable
    from .train import TrainingInterrupted, train

    try:
        check_trainable(env_id)  # the real pusher: refused before anything is built or written
        args = Args(
            env_id=env_id,
            algo=algo,
            total_timesteps=timesteps,
            n_envs=n_envs,
            seed=seed,
            out=None if out is None else str(out),
            env_kwargs=with_checkpoint(parse_key_values(env_kwargs, "--env-kwargs"), checkpoint),
            hyperparams=parse_key_values(hp, "--hp"),
            eval_freq=eval_freq,
            eval_episodes=eval_episodes,
            checkpoint_freq=checkpoint_freq,
            video_episodes=video_episodes,
            features=features,
            features_dim=features_dim,
            threads=threads,
            device=resolve_device(device),
            time_limit_min=time_limit_min,
            progress=progress,
        )
        check_output_dir(args.run_dir, "--out")  # before the envs are built and the agent learns
        env_model_path(env_id, args.env_kwargs.get("checkpoint"))
        result = train(args)
    except (ValueError, FileExistsError, FileNotFoundError, CheckpointError) as e:
        _fail(e)
    except TrainingInterrupted as e:
        typer.echo(
            f"Interrupted after {e.timesteps} timesteps: the agent so far is saved as {e.model_path} "
            f"(evaluate it with `lcvg agent eval {e.model_path} {env_id}`); no final evaluation was run.",
            err=True,
        )
        raise typer.Exit(130) from e
    except OSError as e:
        if not is_disk_full(e):
            raise
        _fail(
            OutputError(
                f"--out {args.run_dir}: {describe_os_error(e)}. The pickle-free checkpoints saved before "
                f"({args.run_dir / 'checkpoints'}/*.json) are whole: each is written aside, then renamed."
            )
        )
    evaluation = result.evaluation.to_json()
    summary = {
        "run_dir": str(result.run_dir),
        "model": str(result.model_path),
        "timesteps": evaluation["extra"].get("timesteps"),
        "train_seconds": evaluation["extra"].get("train_seconds"),
        "seconds": result.seconds,  # training, evaluation and video
        **{k: v for k, v in _row(evaluation).items() if k != "seconds"},
    }
    if time_limit_min is not None and (summary["timesteps"] or 0) < timesteps:
        summary["stopped_by_time_limit"] = True  # SB3 learns up to the total unless a callback stops it
        typer.echo(
            f"Stopped by --time-limit-min {time_limit_min:g} after {summary['timesteps']} of {timesteps} "
            "timesteps; the agent so far was saved and evaluated.",
            err=True,
        )
    typer.echo(json.dumps(summary, indent=2))
    if evaluation.get("video_error"):  # the agent and eval.json are saved; the video is not
        _fail(ValueError(evaluation["video_error"]))


@app.command("eval")
def eval_command(
    model: Annotated[
        str,
        typer.Argument(
            help="A run folder, a saved agent (.json/.safetensors; an SB3 .zip with --trust-pickle), "
            "'random', 'scripted' (the point the env scores) or 'scripted-detector' (the detected tip)."
        ),
    ],
    env_id: Annotated[
        str, typer.Argument(help="Environment id, e.g. LCVG-Pusher-v0 or LCVG-PusherMuJoCo-v0 (MuJoCo).")
    ],
    checkpoint: EnvCheckpoint = None,
    episodes: Annotated[int, typer.Option(help="Episodes to run.")] = 20,
    json_out: JsonOut = None,
    video: Annotated[
        Path | None, typer.Option(help="mp4 of the first episodes (default: see --no-video).")
    ] = None,
    no_video: Annotated[bool, typer.Option("--no-video", help="Write no video.")] = False,
    video_episodes: Annotated[int, typer.Option(help="Episodes in the video.")] = 2,
    n_envs: NEnvs = 8,
    seed: Annotated[
        int | None, typer.Option(help="First episode seed (default 1000, held out from training).")
    ] = None,
    env_kwargs: EnvKwargs = None,
    algo: Annotated[str | None, typer.Option(help="Algorithm of a bare .zip, if not detected.")] = None,
    best: Annotated[bool, typer.Option("--best", help="Evaluate a run folder's best_model.")] = False,
    stochastic: Annotated[bool, typer.Option("--stochastic", help="Sample the agent's actions.")] = False,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    real_starts: Annotated[
        bool,
        typer.Option(
            "--real-starts",
            help="Learned pusher envs only: start each episode from LCVG-PusherMuJoCo-v0's start state of "
            "the same seed (its frame and goal), so both envs are evaluated from the same starts.",
        ),
    ] = False,
    detector: Annotated[str, typer.Option(help="Tip detector of scripted-detector.")] = "pusher",
    trust_pickle: TrustPickle = False,
) -> None:
    """Evaluate an agent or a baseline: mean/std return, success rate (reach), a video and a JSON row.

    The default video is RUN_DIR/eval.mp4 for a run folder, MODEL_eval.mp4 beside a saved model, and
    eval_{random,scripted}__{env}.mp4 in the current folder for the baselines.
    """
    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.env.cli import check_video_path
    from lcvg_env.evaluation.policy import EVAL_SEED, evaluate_policy
    from lcvg_env.model import env_model_path
    from lcvg_env.outputs import check_output_file, write_text
    from lcvg_env.runtime import resolve_device, set_threads

    from .config import parse_key_values
    from .envs import make_vector_env
    from .loading import (
        BASELINES,
        baseline_policy,
        check_compatible,
        find_model,
        load_model,
        sb3_policy,
    )

    try:  # options and outputs checked before the model and the envs load
        if episodes < 1:
            raise ValueError(f"--episodes must be >= 1 (episodes to run), got {episodes}.")
        if n_envs < 1:
            raise ValueError(f"--n-envs must be >= 1 (episodes run in parallel), got {n_envs}.")
        set_threads(threads)
        torch_device = resolve_device(device)  # a bad --device fails now, for the baselines too
        if json_out is not None:
            check_output_file(json_out, "--json")
        kwargs = with_checkpoint(parse_key_values(env_kwargs, "--env-kwargs"), checkpoint)
        source = None if model in BASELINES else find_model(model, algo, best, trust_pickle)
        if source is not None:
            kwargs = {**source.env_kwargs, **kwargs}
        video_path = None if no_video else (video or _default_video(model, env_id, source))
        if video_path is not None:  # as rollout's --out: a file ffmpeg can write, .mp4/.mkv/.mov
            check_video_path(video_path, "--video")
        env_model_path(env_id, kwargs.get("checkpoint"))
        venv = make_vector_env(env_id, min(n_envs, episodes), kwargs)
        if real_starts:
            venv = _with_real_starts(venv, env_id)
        if source is None:
            first_seed = EVAL_SEED if seed is None else seed
            policy, discrete = baseline_policy(model, venv, seed=first_seed, detector=detector), False
        else:
            agent = load_model(source, device=torch_device, trust_pickle=trust_pickle)
            check_compatible(agent, venv, source.path)
            policy, discrete = sb3_policy(agent, deterministic=not stochastic)
        result = evaluate_policy(
            policy,
            venv,
            episodes,
            seed=EVAL_SEED if seed is None else seed,
            env_id=env_id,
            name=model if source is None else str(source.path),
            discrete=discrete,
            video_path=video_path,
            video_episodes=video_episodes,
        )
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        _fail(e)
    if real_starts:
        result.extra["starts"] = "LCVG-PusherMuJoCo-v0 start states (frame and goal) of the same seeds"
    # The figures are computed: a video or JSON that cannot be written is reported after them, not in
    # their place (the row's video_error says why the video is missing).
    errors: list[str] = [] if result.video_error is None else [result.video_error]
    if json_out is not None:
        try:
            write_text(json_out, json.dumps(result.to_json(), indent=2))
        except (ValueError, OSError) as e:
            errors.append(str(e))
    typer.echo(json.dumps(_row(result.to_json()), indent=2))
    if errors:
        for error in errors[:-1]:
            typer.echo(f"Error: {error}", err=True)
        _fail(ValueError(errors[-1]))


@app.command("convert")
def convert_command(
    model: Annotated[str, typer.Argument(help="A pickled stable-baselines3 agent (.zip).")],
    out_arg: OutArgAlias = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Writes OUT.json + OUT.safetensors (a folder: OUT/<zip name>.*).  [required]",
            show_default=False,
        ),
    ] = None,
    trust_pickle: TrustPickle = False,
    algo: Annotated[str | None, typer.Option(help="Algorithm of a bare .zip, if not detected.")] = None,
) -> None:
    """Convert an SB3 .zip to the pickle-free agent format (unpickles it once: needs --trust-pickle)."""
    from .loading import TRUST_FLAG, UntrustedPickleError, convert_model

    try:
        path = convert_model(model, out_path(out, out_arg), algo, trust_pickle)
    except UntrustedPickleError:  # its advice names this very command: say what to add instead
        _fail(
            UntrustedPickleError(
                f"{model} is a pickled stable-baselines3 agent: converting it unpickles it once, which can "
                f"execute arbitrary code on this machine. Only if you trust its source, run the same command "
                f"with {TRUST_FLAG}."
            )
        )
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        _fail(e)
    typer.echo(json.dumps({"model": str(path), "weights": str(path.with_suffix(".safetensors"))}, indent=2))


def _with_real_starts(venv: Any, env_id: str) -> Any:
    """``venv`` reset from the MuJoCo env's start states (:class:`agents.real_envs.RealStarts`)."""
    from .real_envs import RealStarts, is_mujoco

    if is_mujoco(env_id) or not env_id.startswith("LCVG-Pusher"):
        raise ValueError(
            f"--real-starts starts a learned pusher env (e.g. LCVG-Pusher-v0) from the MuJoCo pusher's "
            f"start states; {env_id} is not one. Drop --real-starts."
        )
    return RealStarts(venv)


def _default_video(model: str, env_id: str, source: Any) -> Path:
    if source is None:
        return Path(f"eval_{model}__{env_id}.mp4")
    path = Path(source.path)
    if Path(model).is_dir():
        return Path(model) / "eval.mp4"
    return path.with_name(f"{path.stem}_eval.mp4")


def _row(full: dict[str, Any]) -> dict[str, Any]:
    """The report's fields of an evaluation (no per-episode lists)."""
    keys = (
        "policy",
        "env_id",
        "mean_return",
        "std_return",
        "success_rate",
        "success_ci90",
        "episodes",
        "mean_length",
        "mean_final_distance_px",
        "seconds",
        "video",
    )
    return {k: full[k] for k in keys if k in full}


def _fail(error: Exception) -> NoReturn:
    from lcvg_env.env.resolve import CheckpointNotFoundError

    hint = ""
    if isinstance(error, CheckpointNotFoundError):
        hint = "\nWith `lcvg agent`, pass a model of your own as --env-kwargs checkpoint=PATH."
    typer.echo(f"Error: {error}{hint}", err=True)
    raise typer.Exit(1) from error
