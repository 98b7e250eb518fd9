"""What ``lcvg agent eval MODEL`` evaluates: ``random``, ``scripted``, ``scripted-detector``, a run folder
or a saved agent.

A run folder (``lcvg agent train --out RUN_DIR``) gives its safe agent ``model.json`` +
``model.safetensors`` (:mod:`agents.safe_format`), which name the algorithm and the env keywords
they were trained with. ``NAME.json`` or ``NAME.safetensors`` load the same way. A stable-baselines3
``.zip`` is pickled: loading it can run any code its author put in it, so it is refused unless the
caller trusts it (``--trust-pickle``); its algorithm comes from ``args.json`` or from the module of
its policy class (``stable_baselines3.sac.policies`` -> SAC, ...), read as JSON without unpickling.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from lcvg_env.evaluation.env_view import env_view
from lcvg_env.evaluation.policy import Policy
from lcvg_env.outputs import check_output_file

from .config import ALGOS
from .policies import DetectorReacher, RandomPolicy, SB3Policy, ScriptedReacher
from .safe_format import SUFFIXES, load_safe_agent, read_agent_json, safe_paths, save_safe_agent

BASELINES = ("random", "scripted", "scripted-detector")
TRUST_FLAG = "--trust-pickle"


class UntrustedPickleError(ValueError):
    """A pickled agent (SB3 ``.zip``) that the caller did not say they trust."""


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

    @property
    def pickled(self) -> bool:
        """True for an SB3 ``.zip`` (unpickled by SB3's loader), False for the safe format."""
        return self.path.suffix not in SUFFIXES


def find_model(
    spec: str, algo: str | None = None, best: bool = False, trust_pickle: bool = False
) -> ModelSource:
    """Resolve a run folder (``model.json``, or ``best_model.json`` when ``best``), a safe agent file or,
    when ``trust_pickle``, an SB3 ``.zip``; a pickled agent without it is an :class:`UntrustedPickleError`."""
    path = Path(spec).expanduser()
    if path.is_dir():
        path = _run_folder_model(path, "best_model" if best else "model")
    elif not path.is_file():
        raise FileNotFoundError(
            f"MODEL {spec!r} is neither a run folder, a saved agent (.json/.safetensors, or an SB3 .zip) "
            f"nor one of {BASELINES}."
        )
    if path.suffix in SUFFIXES:
        meta = read_agent_json(path)
        if algo is not None and algo != meta["algo"]:
            raise ValueError(f"{path} holds a {meta['algo']} agent, not {algo}; drop --algo.")
        run_args = {"env_id": meta["env_id"], "env_kwargs": meta["env_kwargs"]}
        return ModelSource(safe_paths(path)[0], meta["algo"], run_args)
    if not trust_pickle:
        raise UntrustedPickleError(pickle_refusal(path))
    run_args = _run_args(path)
    algo = algo or run_args.get("algo") or detect_algo(path)
    if algo not in ALGOS:
        raise ValueError(f"Unknown algorithm {algo!r} for {path}; pass --algo with one of {ALGOS}.")
    return ModelSource(path, algo, run_args)


def pickle_refusal(path: Path) -> str:
    """Why a pickled agent is not loaded, and the ways forward."""
    return (
        f"{path} is a pickled stable-baselines3 agent: loading it unpickles the objects stored in it, "
        f"which can execute arbitrary code on this machine. Only if you trust its source, pass "
        f"{TRUST_FLAG}, or convert it once to the pickle-free format with "
        f"`lcvg agent convert {path} --out OUT {TRUST_FLAG}` and evaluate OUT.json. "
        "Agents trained by `lcvg agent train` are saved as model.json + model.safetensors."
    )


def _run_folder_model(folder: Path, stem: str) -> Path:
    """``stem.json`` of a run folder, else its pickled ``stem.zip`` (refused unless trusted)."""
    for name in (f"{stem}.json", f"{stem}.zip"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"{folder} has no {stem}.json (nor {stem}.zip): pass a run folder of `lcvg agent train`, "
        f"a saved agent, or one of {BASELINES}."
    )


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


def load_model(source: ModelSource, device: str = "cpu", trust_pickle: bool = False) -> Any:
    """The agent of ``source``, for ``predict``: a :class:`~agents.safe_format.SafeAgent`, or (pickled,
    only with ``trust_pickle``) the stable-baselines3 model loaded by SB3, without an env."""
    if not source.pickled:
        return load_safe_agent(source.path, device=device)
    if not trust_pickle:
        raise UntrustedPickleError(pickle_refusal(source.path))
    from .train import algo_class

    try:
        return algo_class(source.algo).load(source.path, device=device)
    except Exception as e:  # an arbitrary pickle can fail in any way: one message, not SB3's traceback
        raise ValueError(
            f"{source.path}: stable-baselines3 could not load it as a {source.algo.upper()} agent "
            f"({type(e).__name__}: {e}). Pass --algo if it is another algorithm, or re-save the agent."
        ) from e


def convert_model(
    spec: str, out: str | os.PathLike, algo: str | None = None, trust_pickle: bool = False
) -> Path:
    """Load a pickled SB3 agent once (``trust_pickle`` required) and save it in the safe format at ``out``
    (a folder: ``out/<zip name>.json``); returns the JSON path. The env keywords come from ``args.json``."""
    source = find_model(spec, algo, trust_pickle=trust_pickle)
    if not source.pickled:
        raise ValueError(f"{source.path} is already in the safe format; nothing to convert.")
    out = Path(out)
    target = out / source.path.stem if out.is_dir() else out
    existing = [p for p in safe_paths(target) if p.exists()]
    if existing:
        raise FileExistsError(f"{existing[0]} exists; choose another OUT or remove it first.")
    for path in safe_paths(target):  # before the zip is unpickled: a bad OUT costs nothing
        check_output_file(path, "--out")
    model = load_model(source, trust_pickle=trust_pickle)
    return save_safe_agent(model, target, source.run_args.get("env_id", ""), source.env_kwargs)


def baseline_policy(name: str, venv: Any, seed: int = 0, detector: str = "pusher") -> Policy:
    """A reference controller for ``venv`` (learned or real, :func:`agents.envs.env_view`):

    - ``random``: uniform actions;
    - ``scripted``: the point the env scores straight to the goal (:class:`ScriptedReacher`): the learned
      env's mask centroid, the real env's true tip;
    - ``scripted-detector``: the tip the ``detector`` finds in the frame straight to the goal
      (:class:`DetectorReacher`), by pixels alone in either env.
    """
    view = env_view(venv)
    if name == "random":
        return RandomPolicy(venv.single_action_space, seed=seed)
    if name == "scripted":
        return ScriptedReacher(venv.single_action_space, view.max_displacement, point=view.point)
    if name == "scripted-detector":
        from lcvg_env.control_gain import load_tip_detector

        return DetectorReacher(load_tip_detector(detector), view.frames, view.controls, view.max_displacement)
    raise ValueError(f"Unknown baseline {name!r}; choose one of {BASELINES}.")


def check_compatible(model: Any, venv: Any, source: Path) -> None:
    """The model must see frames of the env's size (SB3 stores image spaces channel-first)."""
    expected = venv.single_observation_space.shape  # (H, W, 3)
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
