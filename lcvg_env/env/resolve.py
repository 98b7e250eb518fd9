"""Where an environment's checkpoint comes from: an explicit path, the user's cache, or the package.

Lookup order for a name such as ``"pusher"`` (see :func:`resolve_checkpoint`):

1. an existing file path (``checkpoint="runs/pusher/model.safetensors"``); a folder of the working
   directory that shares a model's name (``pusher/``) does not hide the model;
2. ``$LCVG_HOME/checkpoints/<name>.safetensors`` (``LCVG_HOME`` defaults to ``~/.cache/lcvg``),
   where ``lcvg train ... --install-as <name>`` writes (:func:`installed_checkpoint_path`);
3. the model shipped inside the package, ``lcvg_env/assets/<name>.safetensors``.

Nothing here imports torch: it runs at ``gymnasium.make`` time before the model is loaded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
"""Folder of the checkpoints shipped inside the package."""


@dataclass(frozen=True)
class EnvModel:
    """A named world model an environment id runs on, and how to make one."""

    name: str
    """Checkpoint name (file stem in the cache and in the package assets)."""
    preset: str
    """The model preset it is trained with (``lcvg presets``)."""
    create: str
    """The shell command that creates and installs the checkpoint."""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"EnvModel.name must be a plain identifier, got {self.name!r}.")


MODELS: dict[str, EnvModel] = {
    m.name: m
    for m in (
        EnvModel(
            "pusher",
            "base-64",
            "lcvg data pusher data/pusher && "
            "lcvg train data/pusher --preset base-64 --out runs/pusher --install-as pusher",
        ),
        EnvModel(
            "pusher_tiny",
            "tiny-64",
            "lcvg data pusher data/pusher && "
            "lcvg train data/pusher --preset tiny-64 --out runs/pusher_tiny --install-as pusher_tiny",
        ),
        EnvModel(
            "atari_tennis",
            "atari-tennis-64",
            "lcvg data atari-tennis data/atari-tennis --episodes 300 --frames 30 --seed 0 --split train && "
            "lcvg data atari-tennis data/atari-tennis --episodes 8 --frames 30 --seed 1000 --split val && "
            "lcvg train data/atari-tennis --preset atari-tennis-64 --out runs/atari_tennis --install-as "
            "atari_tennis\n"
            '    (ale-py records the games: pip install "lcvg-env[data]"; docs/data.md, Atari Tennis).',
        ),
        EnvModel(
            "breakout",
            "tiny-64",
            "lcvg data breakout data/breakout && "
            "lcvg train data/breakout --preset tiny-64 --out runs/breakout --install-as breakout\n"
            "    (no env id runs it, none is bundled: run it with "
            'lcvg_env.env.LCVGEnv(checkpoint="breakout"); docs/env.md, Breakout).',
        ),
        EnvModel(
            "bair",
            "bair-256",
            "lcvg train PATH/TO/bair --preset bair-256 --out runs/bair --install-as bair\n"
            "    PATH/TO/bair: the BAIR robot pushing videos (Ebert et al., 2017), published as TFRecords "
            "at http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar (softmotion30_44k; "
            "lcvg reads them as they are, docs/data.md) or as frames in the train/<video>/00000.png layout. "
            "No download at hand? `lcvg data pusher data/pusher` renders a BAIR-like set with MuJoCo "
            "(LCVG-Pusher-v0's model is trained on it).",
        ),
        EnvModel(
            "tennis",
            "tennis-96x256",
            "lcvg train PATH/TO/tennis --preset tennis-96x256 --out runs/tennis --install-as tennis\n"
            "    PATH/TO/tennis: the Tennis videos of Playable Video Generation (Menapace et al., CVPR 2021; "
            "download instructions at https://github.com/willi-menapace/PlayableVideoGeneration) in the "
            "train/<video>/00000.png layout. Without them, `lcvg data atari-tennis data/tennis` records "
            "Atari Tennis with ale-py (a stand-in, not the paper's videos).",
        ),
    )
}
"""The models behind the registered ids (``LCVG-Pusher-v0`` runs on ``pusher``, ...)."""


class CheckpointNotFoundError(FileNotFoundError):
    """No checkpoint for an environment; the message says which command creates one."""


MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""A model name: letters, digits, ``_`` and ``-``, at most 64, never a path (no ``/``, ``.``, space)."""


def check_model_name(name: str, option: str = "--install-as") -> str:
    """``name`` when it is a plain model name (:data:`MODEL_NAME_RE`); else a ``ValueError``.

    Names become file names under ``$LCVG_HOME/checkpoints``: a name such as ``../../x`` would write
    outside that folder, so only letters, digits, ``_`` and ``-`` are allowed.
    """
    if not isinstance(name, str) or not MODEL_NAME_RE.match(name):
        raise ValueError(
            f"{option} {name!r} is not a model name: use letters, digits, '_' and '-' (at most 64, "
            "starting with a letter or digit), e.g. pusher_v2; a name is never a path."
        )
    return name


def lcvg_home() -> Path:
    """``$LCVG_HOME``, default ``~/.cache/lcvg``."""
    return Path(os.environ.get("LCVG_HOME") or "~/.cache/lcvg").expanduser()


def installed_checkpoint_path(name: str) -> Path:
    """Where the user's checkpoint ``name`` lives: ``$LCVG_HOME/checkpoints/<name>.safetensors``.

    ``lcvg train --install-as NAME`` copies its final model here. ``name`` must pass
    :func:`check_model_name` (``ValueError`` otherwise), so the path is always inside that folder.
    """
    return lcvg_home() / "checkpoints" / f"{check_model_name(name, 'model name')}.safetensors"


def available_models() -> list[str]:
    """The model names that resolve on this machine: installed under ``$LCVG_HOME/checkpoints`` or shipped
    in the package, sorted."""
    folders = (lcvg_home() / "checkpoints", ASSETS_DIR)
    found = {p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.safetensors")}
    return sorted(n for n in found if MODEL_NAME_RE.match(n) and not n.endswith("_detector"))


def _names() -> str:
    return ", ".join(available_models()) or "none installed"


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint file for a model name or path (lookup order in the module docstring).

    Raises :class:`CheckpointNotFoundError` naming the places searched and the command that creates one.
    """
    text = os.fspath(name_or_path)
    if not text.strip():
        raise CheckpointNotFoundError(
            f"The checkpoint is empty: pass a model name ({_names()}) or a .safetensors file."
        )
    path = Path(text).expanduser()
    if path.is_file():
        return path
    named = MODEL_NAME_RE.match(text) is not None
    candidates = [installed_checkpoint_path(text), ASSETS_DIR / f"{text}.safetensors"] if named else []
    if path.is_dir():
        model = next((c for c in candidates if c.is_file()), None)
        inside = path / "model.safetensors"
        if model is not None and not inside.is_file():
            return model  # a folder that only shares a model's name (data/, a notes folder): the name wins
        if model is not None:  # a run folder of that name too: which one is meant cannot be told
            raise CheckpointNotFoundError(
                f"{text!r} is both a model name ({model}) and a run folder here ({inside}); pass the file: "
                f"{inside} for the run, {model} for the model."
            )
        hint = f"; this looks like a run folder: pass {inside}" if inside.is_file() else ""
        raise CheckpointNotFoundError(
            f"Checkpoint {path} is a folder, not a checkpoint file{hint}. Pass the path of a .safetensors "
            f"file or a model name ({_names()})."
        )
    looks_like_path = path.suffix == ".safetensors" or os.sep in text or "/" in text
    if looks_like_path or not MODEL_NAME_RE.match(text):
        what = (
            "does not exist" if looks_like_path or path.is_symlink() else "is neither a file nor a model name"
        )
        raise CheckpointNotFoundError(
            f"Checkpoint {text!r} {what}. Pass the path of an existing .safetensors file "
            f"or a model name ({_names()}; names are letters, digits, '_' and '-')."
        )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointNotFoundError(_missing_message(text, candidates))


def _missing_message(name: str, searched: list[Path]) -> str:
    where = " nor ".join(str(p) for p in searched)
    model = MODELS.get(name)
    if model is None:
        return (
            f"No checkpoint named {name!r}: neither {where} exists. Models on this machine: {_names()}; "
            f"or create one with `lcvg train DATA_DIR --out runs/{name} --install-as {name}`, "
            "or pass the path of a .safetensors file."
        )
    return (
        f"No {name!r} world model found: neither {where} exists. Create one with:\n"
        f"    {model.create}\n"
        f"or pass the path of a .safetensors file (gymnasium.make(..., checkpoint=PATH), or the "
        "command's model argument). "
        f"Set LCVG_HOME to look elsewhere than {lcvg_home()}."
    )
