"""Train a stable-baselines3 agent inside the learned simulator; read it top to bottom.

    lcvg agent train LCVG-Pusher-v0 --algo ppo --timesteps 200000 --n-envs 8 --out runs/agents/ppo

The run folder (``Args.run_dir``) ends up with::

    args.json                 the run's configuration (run name {env}__{algo}__{seed}__{time})
    model.json, .safetensors  the final agent, pickle-free    (lcvg agent eval RUN_DIR ENV_ID)
    model.zip                 the same agent as SB3 saves it (pickled: for SB3 users who trust it)
    best_model.{json,safetensors,zip}   the best agent of the periodic evaluations (EvalCallback)
    checkpoints/              periodic snapshots, {algo}_N_steps.{json,safetensors,zip}
    evaluations.npz           the periodic evaluations' returns and successes
    tb/{run_name}_1/          TensorBoard logs              (tensorboard --logdir RUN_DIR/tb)
    eval.json, video.mp4      the final evaluation and a video of the trained agent
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lcvg_env.atomic import atomic_path, atomic_write_json
from lcvg_env.evaluation.env_view import lcvg_vector_env
from lcvg_env.evaluation.policy import EVAL_SEED, PolicyResult, evaluate_policy

from .config import Args
from .envs import make_sb3_env
from .networks import policy_kwargs
from .policies import SB3Policy
from .safe_format import load_safe_agent, save_safe_agent

TRAIN_HINT = 'pip install "lcvg-env[train]"'


@dataclass
class TrainResult:
    """Where the run wrote its agent and how the agent did at the end."""

    run_dir: Path
    model_path: Path
    """The safe agent's ``model.json`` (weights in ``model.safetensors`` beside it)."""
    evaluation: PolicyResult
    seconds: float


def algo_class(algo: str) -> Any:
    """The stable-baselines3 class of ``ppo``, ``sac`` or ``dqn``."""
    from stable_baselines3 import DQN, PPO, SAC

    return {"ppo": PPO, "sac": SAC, "dqn": DQN}[algo]


def build_model(args: Args, env: Any, tensorboard_log: str | None) -> Any:
    """The agent: ``CnnPolicy`` on image observations, ``MultiInputPolicy`` on dict observations."""
    from gymnasium import spaces

    policy = "MultiInputPolicy" if isinstance(env.observation_space, spaces.Dict) else "CnnPolicy"
    return algo_class(args.algo)(
        policy,
        env,
        policy_kwargs={
            **policy_kwargs(env.observation_space, args.features, args.features_dim),
            **args.policy_overrides(),
        },
        tensorboard_log=tensorboard_log,
        seed=args.seed,
        device=args.device,
        verbose=0,
        **args.algo_kwargs(),
    )


def build_callbacks(args: Args, eval_env: Any, run_dir: Path) -> list[Any]:
    """EvalCallback (best model, evaluations.npz) and CheckpointCallback; frequencies in env steps."""
    from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback

    callbacks: list[Any] = []
    # SB3 counts callback frequencies in calls, one per vector step of n_envs env steps.
    if args.eval_freq:
        callbacks.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=args.eval_episodes,
                eval_freq=max(1, args.eval_freq // args.n_envs),
                best_model_save_path=str(run_dir),
                log_path=str(run_dir),
                deterministic=True,
                verbose=0,
                callback_on_new_best=safe_save_callback(args, "best_model"),
            )
        )
    if args.checkpoint_freq:
        every = max(1, args.checkpoint_freq // args.n_envs)
        callbacks.append(
            CheckpointCallback(save_freq=every, save_path=str(run_dir / "checkpoints"), name_prefix=args.algo)
        )
        callbacks.append(safe_save_callback(args, f"checkpoints/{args.algo}_{{steps}}_steps", every))
    if args.time_limit_min is not None:
        callbacks.append(time_limit_callback(args.time_limit_min))
    return callbacks


def time_limit_callback(minutes: float) -> Any:
    """A callback that stops ``learn`` once ``minutes`` of wall clock have passed since it started."""
    from stable_baselines3.common.callbacks import BaseCallback

    class TimeLimit(BaseCallback):
        def _on_training_start(self) -> None:
            self.deadline = time.monotonic() + 60.0 * minutes

        def _on_step(self) -> bool:
            return time.monotonic() < self.deadline  # False stops learning (SB3 callback protocol)

    return TimeLimit()


def safe_save_callback(args: Args, name: str, every: int = 1) -> Any:
    """A callback that saves the agent pickle-free as ``RUN_DIR/name.{json,safetensors}`` every ``every``
    calls (``{steps}`` in ``name``: the env steps so far, as CheckpointCallback names its zips)."""
    from stable_baselines3.common.callbacks import BaseCallback

    env_kwargs = args.to_json()["env_kwargs"]

    class SaveSafeAgent(BaseCallback):
        def _on_step(self) -> bool:
            if self.n_calls % every == 0:
                path = args.run_dir / name.format(steps=self.num_timesteps)
                save_safe_agent(self.model, path, args.env_id, env_kwargs)
            return True

    return SaveSafeAgent()


def tensorboard_dir(run_dir: Path) -> str | None:
    """``RUN_DIR/tb``, or None (with a warning) when tensorboard is not installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        warnings.warn(f"tensorboard is not installed: no TensorBoard logs ({TRAIN_HINT}).", stacklevel=2)
        return None
    return str(run_dir / "tb")


def train(args: Args) -> TrainResult:
    """Train ``args.algo`` on ``args.env_id`` for ``args.total_timesteps`` steps; evaluate and film it."""
    start = time.perf_counter()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    run_dir = args.run_dir
    for name in ("model.json", "model.zip"):
        if (run_dir / name).exists():
            raise FileExistsError(f"{run_dir} already holds a trained agent ({name}); choose another --out.")

    # 1. Environments: N training envs in one batch, and a separate batch for evaluations.
    discrete = args.algo == "dqn"
    env = make_sb3_env(args.env_id, args.n_envs, args.env_kwargs, discrete=discrete, seed=args.seed)
    n_eval = min(args.n_envs, args.eval_episodes)
    eval_env = make_sb3_env(
        args.env_id, n_eval, args.env_kwargs, discrete=discrete, seed=args.seed + EVAL_SEED
    )

    # 2. The agent and its callbacks; learn. The run folder is written only once envs and agent are
    # built: an unknown id or a bad hyperparameter leaves nothing behind.
    try:
        model = build_model(args, env, tensorboard_dir(run_dir))
    except (TypeError, ValueError) as e:  # stable-baselines3's own check of a keyword's value
        env.close()
        eval_env.close()
        given = " ".join(f"--hp {k}={v}" for k, v in args.hyperparams.items())
        raise ValueError(
            f"stable-baselines3 could not build the {args.algo} agent"
            + (f" with {given}" if given else "")
            + f": {e}"
        ) from e
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "args.json", args.to_json())
    try:
        model.learn(
            total_timesteps=args.total_timesteps,
            callback=build_callbacks(args, eval_env, run_dir),
            tb_log_name=args.run_name,
            progress_bar=args.progress and _has_progress_bar(),
        )
    except KeyboardInterrupt as stop:  # Ctrl-C: keep what was learned, then stop (no final evaluation)
        model_path = _save(model, args, run_dir)
        env.close()
        eval_env.close()
        raise TrainingInterrupted(model_path, int(model.num_timesteps)) from stop
    train_seconds = time.perf_counter() - start
    model_path = _save(model, args, run_dir)

    # 3. Final evaluation of the saved safe agent on held-out seeds (as `lcvg agent eval`), with a video.
    evaluation = evaluate_policy(
        SB3Policy(load_safe_agent(model_path, device=args.device)),
        lcvg_vector_env(eval_env),
        args.eval_episodes,
        seed=EVAL_SEED,
        name=str(model_path),
        env_id=args.env_id,
        discrete=discrete,
        video_episodes=args.video_episodes,
        video_path=run_dir / "video.mp4" if args.video_episodes else None,
    )
    evaluation.extra["timesteps"] = int(model.num_timesteps)
    evaluation.extra["train_seconds"] = round(train_seconds, 1)
    atomic_write_json(run_dir / "eval.json", evaluation.to_json())
    env.close()
    eval_env.close()
    return TrainResult(run_dir, model_path, evaluation, round(time.perf_counter() - start, 1))


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``learn``: the agent so far was saved at ``model_path`` after ``timesteps`` steps."""

    def __init__(self, model_path: Path, timesteps: int) -> None:
        super().__init__(f"saved {model_path} after {timesteps} timesteps")
        self.model_path, self.timesteps = model_path, timesteps


def _save(model: Any, args: Args, run_dir: Path) -> Path:
    """The agent in the pickle-free format (``model.json`` + weights) and SB3's own ``model.zip`` beside it,
    each written aside, then renamed; returns the ``model.json`` path."""
    with atomic_path(run_dir / "model.zip", suffix=".zip") as tmp:
        model.save(tmp)
    return save_safe_agent(model, run_dir / "model", args.env_id, args.to_json()["env_kwargs"])


def _has_progress_bar() -> bool:
    """SB3's progress bar needs tqdm and rich; train without one rather than fail."""
    try:
        import rich  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True
