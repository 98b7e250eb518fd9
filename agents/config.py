"""The training run's configuration: one ``Args`` dataclass, cleanrl-style, a docstring per field.

``lcvg agent train`` fills it from the command line; ``agents.train.train(Args(...))`` runs it from
Python. Algorithm hyperparameters have per-algorithm defaults (:data:`ALGO_DEFAULTS`, chosen for the
64x64 ``reach`` task on a CPU) that ``hyperparams`` overrides key by key.
"""

from __future__ import annotations

import json
import numbers
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ALGOS = ("ppo", "sac", "dqn")
FEATURES = ("auto", "coord", "keypoints", "nature", "goals")

ALGO_DEFAULTS: dict[str, dict[str, Any]] = {
    # Dense reach reward, 100-step episodes: a short horizon (gamma 0.95) learns fastest. Env steps are
    # the expensive part on a CPU, so each sample is reused (10 epochs over short 64-step rollouts).
    "ppo": dict(
        learning_rate=3e-4,
        n_steps=64,
        batch_size=256,
        n_epochs=10,
        gamma=0.95,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.0,
        vf_coef=0.5,
        max_grad_norm=0.5,
    ),
    # Replay buffers hold uint8 frames: 20k 64x64x3 transitions are ~0.5 GB (obs and next obs).
    "sac": dict(
        learning_rate=3e-4,
        buffer_size=20_000,
        learning_starts=1_000,
        batch_size=128,
        gamma=0.95,
        tau=0.01,
        train_freq=1,
        gradient_steps=1,
        ent_coef="auto",
    ),
    "dqn": dict(
        learning_rate=2.5e-4,
        buffer_size=20_000,
        learning_starts=1_000,
        batch_size=64,
        gamma=0.95,
        train_freq=4,
        gradient_steps=1,
        target_update_interval=1_000,
        exploration_fraction=0.2,
        exploration_final_eps=0.05,
    ),
}
"""Keyword arguments of the stable-baselines3 constructors, per algorithm."""

POLICY_DEFAULTS: dict[str, dict[str, Any]] = {
    # A Gaussian of std 1 in [-1, 1] action units mostly hits the clip; std 0.37 explores and can aim.
    "ppo": dict(log_std_init=-1.0),
    "sac": dict(log_std_init=-3.0),  # SB3's SAC default
    "dqn": dict(),
}
"""Keywords of the SB3 policies (``policy_kwargs``), per algorithm; ``hyperparams`` overrides them."""


OPTIONS = {"total_timesteps": "--timesteps"}
"""``lcvg agent train``'s option of an :class:`Args` field whose name differs from the field's."""


@dataclass
class Args:
    """One agent-training run (see :func:`agents.train.train`)."""

    env_id: str = "LCVG-Pusher-v0"
    """Env id: ``LCVG-Pusher-v0``, ``LCVG-BAIR-v0``, ``LCVG-Tennis-v0`` or ``LCVG-Breakout-v0``."""
    algo: str = "ppo"
    """stable-baselines3 algorithm: ``ppo``, ``sac`` (continuous control) or ``dqn`` (discrete wrapper)."""
    total_timesteps: int = 200_000
    """Environment steps to train for, summed over the parallel environments."""
    n_envs: int = 8
    """Environments stepped together in one batched forward pass of the world model."""
    seed: int = 0
    """Seed of the agent, the environments' resets and the evaluation episodes."""
    out: str | None = None
    """Run folder; None: ``runs/agents/{run_name}``."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the environment (``checkpoint``, ``max_displacement``, ``task``, ...)."""
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Overrides of :data:`ALGO_DEFAULTS` for ``algo`` (e.g. ``{"learning_rate": 1e-4}``)."""
    features: str = "auto"
    """Features extractor: ``auto`` (``keypoints`` on ``observation="dict"`` envs, ``coord`` on pixels),
    ``coord`` (:class:`agents.networks.CoordCNN`, any size >= 16 px),
    ``keypoints`` (:class:`agents.networks.KeypointCNN`, spatial-softmax points, cheap to train),
    ``nature`` (SB3's NatureCNN, frames of at least 36 px); ``goals`` reads only the goal vectors of
    ``observation="dict"`` envs (:class:`agents.networks.GoalsExtractor`, a state-based agent)."""
    features_dim: int | None = None
    """Width of the features extractor's output; None: the extractor's default (256 for ``coord`` and
    ``nature``, 32 = 16 keypoints for ``keypoints``)."""
    eval_freq: int = 10_000
    """Evaluate the agent every this many environment steps (``EvalCallback``); 0 disables."""
    eval_episodes: int = 8
    """Episodes per evaluation, during training and for the final report."""
    checkpoint_freq: int = 50_000
    """Save the agent every this many environment steps (``CheckpointCallback``); 0 disables."""
    video_episodes: int = 2
    """Episodes of the trained agent recorded to ``video.mp4`` at the end; 0 disables."""
    time_limit_min: float | None = None
    """Stop learning after this many minutes of wall clock, even before ``total_timesteps`` (the agent
    so far is saved and evaluated); None: no limit. Bounds a run to a compute budget."""
    progress: bool = True
    """Show a progress bar."""
    device: str = "cpu"
    """Torch device of the agent's networks (the world model runs on ``env_kwargs['device']``)."""
    threads: int | None = None
    """Torch CPU threads (``torch.set_num_threads``); None keeps torch's default. On a CPU shared with
    other jobs, 1 thread can be many times faster than an oversubscribed default."""
    start_time: int = field(default_factory=lambda: int(time.time()))
    """Unix time stamped into the run name."""

    def __post_init__(self) -> None:
        def bad(key: str, expected: str) -> ValueError:
            """The error naming the field and ``lcvg agent train``'s option for it."""
            option = OPTIONS.get(key, "--" + key.replace("_", "-"))
            return ValueError(f"{key} ({option}) must be {expected}, got {getattr(self, key)!r}.")

        if self.algo not in ALGOS:
            raise bad("algo", f"one of {ALGOS}")
        if self.features not in FEATURES:
            raise bad("features", f"one of {FEATURES}")
        if self.features_dim is not None and self.features_dim < 1:
            raise bad("features_dim", ">= 1 or None")
        for key in ("total_timesteps", "n_envs", "eval_episodes"):
            if getattr(self, key) < 1:
                raise bad(key, ">= 1")
        if self.time_limit_min is not None and not self.time_limit_min > 0:
            raise bad("time_limit_min", "> 0 or None")
        if self.threads is not None and self.threads < 1:
            raise bad("threads", ">= 1 or None")
        for key in ("eval_freq", "checkpoint_freq", "video_episodes"):
            if getattr(self, key) < 0:
                raise bad(key, ">= 0 (0 disables it)")
        unknown = sorted(
            set(self.hyperparams)
            - set(ALGO_DEFAULTS[self.algo])
            - set(POLICY_DEFAULTS[self.algo])
            - _EXTRA_HYPERPARAMS[self.algo]
        )
        if unknown:
            raise ValueError(
                f"Unknown {self.algo} hyperparameters {unknown}; known: "
                f"{sorted({*ALGO_DEFAULTS[self.algo], *POLICY_DEFAULTS[self.algo]})} "
                f"(and {sorted(_EXTRA_HYPERPARAMS[self.algo])})."
            )

        defaults = {**ALGO_DEFAULTS[self.algo], **POLICY_DEFAULTS[self.algo]}
        for key, value in self.hyperparams.items():
            if key in defaults and not _same_kind(value, defaults[key]):
                raise ValueError(
                    f"--hp {key}={value!r}: {self.algo}'s {key} takes {_kind(defaults[key])} (default "
                    f"{defaults[key]!r}), e.g. --hp {key}={defaults[key]!r}."
                )

    @property
    def run_name(self) -> str:
        """``{env}__{algo}__{seed}__{time}``, the cleanrl convention."""
        return f"{self.env_id}__{self.algo}__{self.seed}__{self.start_time}"

    @property
    def run_dir(self) -> Path:
        """Where the run writes its models, logs and video."""
        return Path(self.out) if self.out is not None else Path("runs") / "agents" / self.run_name

    def algo_kwargs(self) -> dict[str, Any]:
        """The algorithm's constructor keywords: defaults, then ``hyperparams`` (policy keys excluded)."""
        own = {k: v for k, v in self.hyperparams.items() if k not in POLICY_DEFAULTS[self.algo]}
        return {**ALGO_DEFAULTS[self.algo], **own}

    def policy_overrides(self) -> dict[str, Any]:
        """The policy's keywords: :data:`POLICY_DEFAULTS`, then the matching ``hyperparams``."""
        own = {k: v for k, v in self.hyperparams.items() if k in POLICY_DEFAULTS[self.algo]}
        return {**POLICY_DEFAULTS[self.algo], **own}

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable copy (non-JSON env kwargs such as a reward function become strings)."""
        return json.loads(json.dumps({**asdict(self), "run_name": self.run_name}, default=str))


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    return f"{default!r} or a number"  # e.g. SAC's ent_coef "auto" (or "auto_0.1")


def _same_kind(value: Any, default: Any) -> bool:
    """Whether ``--hp`` gave ``value`` of the kind the keyword's default has (an int for ``n_steps``, a
    number for ``learning_rate``, ``"auto..."`` or a number for ``ent_coef``): a wrong kind fails here, in
    one line, not deep inside stable-baselines3 after the envs are built. A callable (an SB3 schedule,
    from Python) is left to stable-baselines3."""
    if callable(value):
        return True
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return number and isinstance(value, numbers.Integral)
    if isinstance(default, float):
        return number
    if isinstance(default, str):  # SAC's ent_coef: "auto", "auto_0.1" or a number
        return number or (isinstance(value, str) and value.startswith(default))
    return True


# Constructor keywords without a default here that users may still set.
_EXTRA_HYPERPARAMS: dict[str, set[str]] = {
    "ppo": {
        "normalize_advantage",
        "target_kl",
        "use_sde",
        "sde_sample_freq",
        "clip_range_vf",
        "stats_window_size",
    },
    "sac": {
        "target_update_interval",
        "target_entropy",
        "use_sde",
        "optimize_memory_usage",
        "stats_window_size",
    },
    "dqn": {"exploration_initial_eps", "max_grad_norm", "tau", "optimize_memory_usage", "stats_window_size"},
}


def parse_key_values(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict; values are parsed as JSON when they can be (``4.0``, ``true``),
    else kept as strings (``checkpoint=runs/pusher/model.safetensors``)."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} entries must look like key=value, got {pair!r}.")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        result[key.strip()] = value
    return result
