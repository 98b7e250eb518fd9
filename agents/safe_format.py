"""Pickle-free agents: a stable-baselines3 policy as ``NAME.safetensors`` + ``NAME.json``.

Loading an SB3 ``.zip`` unpickles (cloudpickle) the classes and spaces stored in it, so a crafted
file runs its author's code. The safe format keeps only what rebuilds the policy:

- ``NAME.safetensors``: the policy's ``state_dict`` (a tensor shared by several modules, such as
  PPO's features extractor, stored once under its first name);
- ``NAME.json``: ``format``, ``format_version``, ``algo`` (``agents.config.ALGOS``), ``policy_class``
  (allow-listed per algorithm), ``policy_kwargs`` (plain JSON, classes allow-listed),
  ``observation_space`` and ``action_space`` (described by value), ``env_id``, ``env_kwargs`` (the
  env the agent was trained in), ``exploration_rate`` (DQN's epsilon, for ``--stochastic``). The
  encoding and its allow-lists: :mod:`agents.safe_json`.

Loading builds the allow-listed class from the JSON keywords and reads the weights with
``safetensors``: no pickle, no ``torch.load``, no SB3 ``load``. The agents train without
``VecNormalize``, so there are no normalisation statistics to store.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcvg_env.atomic import atomic_save_tensors, atomic_write_text

from .config import ALGOS
from .safe_json import (
    AgentFormatError,
    decode_value,
    encode_value,
    policy_classes,
    space_from_json,
    space_to_json,
)

FORMAT_NAME = "lcvg-agent"
FORMAT_VERSION = 1
REQUIRED_KEYS = {
    "format",
    "format_version",
    "algo",
    "policy_class",
    "policy_kwargs",
    "observation_space",
    "action_space",
    "env_id",
    "env_kwargs",
}
OPTIONAL_KEYS = {"exploration_rate"}
SUFFIXES = (".json", ".safetensors")
NOT_KWARGS = ("observation_space", "action_space", "lr_schedule")  # stored apart, or rebuilt (a function)
RESAVE_HINT = (
    "Save the agent again (`lcvg agent train`), or convert an SB3 .zip you trust with "
    "`lcvg agent convert MODEL.zip --out OUT --trust-pickle`."
)


@dataclass
class SafeAgent:
    """A policy loaded from the safe format, with SB3's ``predict`` and what the agent was trained on."""

    policy: Any
    algo: str
    env_id: str = ""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    exploration_rate: float = 0.0

    @property
    def observation_space(self) -> Any:
        return self.policy.observation_space

    @property
    def action_space(self) -> Any:
        return self.policy.action_space

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``model.predict``; DQN explores with ``exploration_rate`` unless deterministic (as DQN's)."""
        if self.algo == "dqn" and not deterministic and np.random.rand() < self.exploration_rate:
            batch = observation[next(iter(observation))] if isinstance(observation, dict) else observation
            if self.policy.is_vectorized_observation(observation):
                return np.array([self.action_space.sample() for _ in range(len(batch))]), state
            return np.array(self.action_space.sample()), state
        return self.policy.predict(observation, state, episode_start, deterministic)


def safe_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(NAME.json, NAME.safetensors)`` for ``NAME``, ``NAME.json`` or ``NAME.safetensors``."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in SUFFIXES else path
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")


def algo_of(model: Any) -> str:
    """``ppo``, ``sac`` or ``dqn`` for an SB3 model."""
    from .train import algo_class

    for algo in ALGOS:
        if type(model) is algo_class(algo):
            return algo
    raise ValueError(f"The safe agent format stores {ALGOS} models, got {type(model).__name__}.")


def agent_json(model: Any, env_id: str = "", env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON half of ``model`` (see the module docstring)."""
    algo, policy = algo_of(model), model.policy
    name = type(policy).__name__
    if policy_classes()[algo].get(name) is not type(policy):
        raise ValueError(
            f"{algo} policy class {type(policy).__module__}.{name} is not allow-listed for the safe "
            f"format; use one of {sorted(policy_classes()[algo])}."
        )
    params = {k: v for k, v in policy._get_constructor_parameters().items() if k not in NOT_KWARGS}
    if hasattr(policy, "share_features_extractor"):  # a constructor keyword SB3 leaves out of the list
        params["share_features_extractor"] = bool(policy.share_features_extractor)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "algo": algo,
        "policy_class": name,
        "policy_kwargs": encode_value(params, "policy_kwargs"),
        "observation_space": space_to_json(policy.observation_space, "observation_space"),
        "action_space": space_to_json(policy.action_space, "action_space"),
        "env_id": env_id,
        "env_kwargs": json.loads(json.dumps(env_kwargs or {}, default=str)),
    }
    if algo == "dqn":
        meta["exploration_rate"] = float(model.exploration_rate)
    return meta


def save_safe_agent(
    model: Any, path: str | os.PathLike, env_id: str = "", env_kwargs: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (SB3 PPO, SAC or DQN) as ``PATH.safetensors`` + ``PATH.json``; returns the JSON path.

    Each file is written aside and swapped in; the JSON goes last, so a present ``.json`` means a
    complete agent.
    """
    json_path, weights_path = safe_paths(path)
    meta = agent_json(model, env_id, env_kwargs)
    weights = {}
    for group in _alias_groups(model.policy.state_dict()):
        weights[group[0][0]] = group[0][1].detach().cpu().contiguous()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors(weights_path, weights, metadata={"format": FORMAT_NAME, "json": json_path.name})
    atomic_write_text(json_path, json.dumps(meta, indent=2, allow_nan=False))
    return json_path


def read_agent_json(path: str | os.PathLike) -> dict[str, Any]:
    """The validated JSON half of a safe agent (``NAME``, ``NAME.json`` or ``NAME.safetensors``)."""
    json_path, _ = safe_paths(path)
    if not json_path.is_file():
        raise FileNotFoundError(f"{json_path} does not exist: a safe agent is NAME.json + NAME.safetensors.")
    try:
        meta = json.loads(json_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AgentFormatError(f"{json_path} is not valid JSON ({e}). {RESAVE_HINT}") from e
    _check_meta(json_path, meta)
    return meta


def _check_meta(path: Path, meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise AgentFormatError(f'{path} is not a safe agent file (no "format": "{FORMAT_NAME}").')
    if meta.get("format_version") != FORMAT_VERSION:
        raise AgentFormatError(
            f"{path} has format_version {meta.get('format_version')!r}; this lcvg-env reads version "
            f"{FORMAT_VERSION} (upgrade lcvg-env for newer files)."
        )
    missing, unknown = REQUIRED_KEYS - set(meta), set(meta) - REQUIRED_KEYS - OPTIONAL_KEYS
    if missing or unknown:
        raise AgentFormatError(f"{path}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}.")
    algo, name = meta["algo"], meta["policy_class"]
    if algo not in ALGOS:
        raise AgentFormatError(f"{path}: unknown algorithm {algo!r}; the safe format knows {ALGOS}.")
    if name not in policy_classes()[algo]:
        raise AgentFormatError(
            f"{path}: policy class {name!r} is not allow-listed for {algo}; the safe format only builds "
            f"{sorted(policy_classes()[algo])}. {RESAVE_HINT}"
        )
    for key, kind in (("policy_kwargs", dict), ("env_kwargs", dict), ("env_id", str)):
        if not isinstance(meta[key], kind):
            raise AgentFormatError(f"{path}: {key} must be a JSON {kind.__name__}, got {meta[key]!r}.")
    if set(meta["policy_kwargs"]) & set(NOT_KWARGS):
        raise AgentFormatError(f"{path}: policy_kwargs may not hold {NOT_KWARGS}.")
    rate = meta.get("exploration_rate", 0.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise AgentFormatError(f"{path}: exploration_rate must be a number in [0, 1], got {rate!r}.")


def build_policy(meta: dict[str, Any], where: str = "agent") -> Any:
    """The allow-listed policy of validated ``meta``, with fresh weights, in evaluation mode."""
    cls = policy_classes()[meta["algo"]][meta["policy_class"]]
    kwargs = decode_value(meta["policy_kwargs"], f"{where}: policy_kwargs")
    observation_space = space_from_json(meta["observation_space"], f"{where}: observation_space")
    action_space = space_from_json(meta["action_space"], f"{where}: action_space")
    try:
        policy = cls(observation_space, action_space, lambda _: 0.0, **kwargs)
    except (TypeError, ValueError, AssertionError, KeyError) as e:
        raise AgentFormatError(
            f"{where}: the policy_kwargs and spaces do not build {meta['policy_class']} ({e}). " + RESAVE_HINT
        ) from e
    policy.set_training_mode(False)
    return policy


def load_safe_agent(path: str | os.PathLike, device: str = "cpu") -> SafeAgent:
    """The agent saved at ``NAME`` (``NAME.json`` + ``NAME.safetensors``), ready for ``predict``."""
    json_path, weights_path = safe_paths(path)
    meta = read_agent_json(json_path)
    if not weights_path.is_file():
        raise FileNotFoundError(
            f"{weights_path} does not exist: {json_path.name} needs its weights beside it."
        )
    policy = build_policy(meta, str(json_path))
    load_weights(policy, weights_path, json_path)
    return SafeAgent(
        policy.to(device), meta["algo"], meta["env_id"], meta["env_kwargs"], meta.get("exploration_rate", 0.0)
    )


def load_weights(policy: Any, weights_path: Path, json_path: Path) -> None:
    """Fill ``policy`` from a ``.safetensors`` file: every tensor present, of the right shape, finite."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        stored = load_file(str(weights_path))
    except (SafetensorError, OSError) as e:
        raise AgentFormatError(f"{weights_path}: not a readable safetensors file ({e}). {RESAVE_HINT}") from e
    expected = policy.state_dict()
    full, missing = {}, []
    for group in _alias_groups(expected):
        present = [name for name, _ in group if name in stored]
        if not present:
            missing.append(group[0][0])
        full.update({name: stored[present[0]] for name, _ in group} if present else {})
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise AgentFormatError(
            f"{weights_path} does not fit the {json_path.name} beside it: missing tensors "
            f"{_few(missing)}, unexpected tensors {_few(unexpected)}. {RESAVE_HINT}"
        )
    for name, tensor in full.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise AgentFormatError(
                f"{weights_path}: tensor {name!r} has shape {tuple(tensor.shape)}, but the policy "
                f"{json_path.name} describes needs {tuple(expected[name].shape)}. {RESAVE_HINT}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise AgentFormatError(
                f"{weights_path}: tensor {name!r} holds NaN or infinite values (training diverged, or the "
                "file is damaged); evaluate an earlier checkpoint or best_model."
            )
    policy.load_state_dict(full, strict=True)


def _alias_groups(state: dict[str, torch.Tensor]) -> list[list[tuple[str, torch.Tensor]]]:
    """The entries of a state dict grouped by the memory they view (PPO's shared features extractor)."""
    groups: dict[tuple, list[tuple[str, torch.Tensor]]] = {}
    for name, t in state.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        key = key if t.numel() else (name,)  # empty tensors have no memory to share
        groups.setdefault(key, []).append((name, t))
    return list(groups.values())


def _few(names: list[str]) -> str:
    return str(names[:4] + ([f"... {len(names) - 4} more"] if len(names) > 4 else []))
