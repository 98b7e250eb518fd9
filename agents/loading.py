"""What ``lcvg agent eval MODEL`` evaluates: ``random``, ``scripted``, a run folder or a saved model.

A run folder (``lcvg agent train --out RUN_DIR``) gives its ``model.zip`` and the ``args.json``
that names the algorithm and the env keywords it was trained with. A saved ``.zip`` alone is
recognised by the module of its policy class (``stable_baselines3.sac.policies`` -> SAC, ...).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from agents.config import ALGOS
from agents.envs import lcvg_vector_env
from agents.policies import Policy, RandomPolicy, SB3Policy, ScriptedReacher

BASELINES = ("random", "scripted")


@dataclass
class ModelSource:
    """A saved agent: its file, its algorithm and the run's ``args.json`` (empty if none)."""

    path: Path
    algo: str
    run_args: dict[str, Any] = field(default_factory=dict)

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The env keywords the agent was trained with."""
        return dict(self.run_args.get("env_kwargs", {}))


def find_model(spec: str, algo: str | None = None, best: bool = False) -> ModelSource:
    """Resolve a run folder (``model.zip``, or ``best_model.zip`` when ``best``) or a ``.zip`` file."""
    path = Path(spec).expanduser()
    if path.is_dir():
        name = "best_model.zip" if best else "model.zip"
        if not (path / name).is_file():
            raise FileNotFoundError(
                f"{path} has no {name}: pass a run folder of `lcvg agent train`, a saved .zip, "
                f"or one of {BASELINES}."
            )
        path = path / name
    elif not path.is_file():
        raise FileNotFoundError(
            f"MODEL {spec!r} is neither a run folder, a saved model (.zip) nor one of {BASELINES}."
        )
    run_args = _run_args(path)
    algo = algo or run_args.get("algo") or detect_algo(path)
    if algo not in ALGOS:
        raise ValueError(f"Unknown algorithm {algo!r} for {path}; pass --algo with one of {ALGOS}.")
    return ModelSource(path, algo, run_args)


def _run_args(model_path: Path) -> dict[str, Any]:
    """``args.json`` beside the model, or one folder up (``checkpoints/``), or {}."""
    for folder in (model_path.parent, model_path.parent.parent):
        if (folder / "args.json").is_file():
            return json.loads((folder / "args.json").read_text())
    return {}


def detect_algo(path: Path) -> str:
    """The algorithm of an SB3 ``.zip`` from its policy class's module (PPO's lives in ``common``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a stable-baselines3 model (.zip with a 'data' entry): {e}") from e
    module = str(data.get("policy_class", {}).get("__module__", ""))
    for algo in ("sac", "dqn"):
        if f".{algo}." in module:
            return algo
    return "ppo"


def load_model(source: ModelSource, device: str = "cpu") -> Any:
    """The stable-baselines3 model of ``source`` (loaded without an env, for ``predict``)."""
    from agents.train import algo_class

    return algo_class(source.algo).load(source.path, device=device)


def baseline_policy(name: str, venv: Any, seed: int = 0) -> Policy:
    """``random`` (uniform actions) or ``scripted`` (centroid straight to the goal) for ``venv``."""
    lcvg = lcvg_vector_env(venv)
    if name == "random":
        return RandomPolicy(lcvg.single_action_space, seed=seed)
    if name == "scripted":
        return ScriptedReacher(lcvg.single_action_space, lcvg.cfg.max_displacement)
    raise ValueError(f"Unknown baseline {name!r}; choose one of {BASELINES}.")


def check_compatible(model: Any, venv: Any, source: Path) -> None:
    """The model must see frames of the env's size (SB3 stores image spaces channel-first)."""
    expected = lcvg_vector_env(venv).single_observation_space.shape  # (H, W, 3)
    got = getattr(model.observation_space, "shape", None)
    if got is not None and tuple(got) not in (tuple(expected), (expected[2], expected[0], expected[1])):
        raise ValueError(
            f"{source} was trained on observations of shape {tuple(got)}, "
            f"but the env gives {tuple(expected)}; "
            "evaluate it on the env (and checkpoint) it was trained on (--env-kwargs checkpoint=...)."
        )


def sb3_policy(model: Any, deterministic: bool = True) -> tuple[Policy, bool]:
    """A trained model as a policy, and whether its actions are discrete (DQN on ``Discrete(5)``)."""
    return SB3Policy(model, deterministic), isinstance(model.action_space, gym.spaces.Discrete)
