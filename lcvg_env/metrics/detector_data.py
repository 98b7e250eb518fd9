"""Frames and ground truth for the tip detector: real frames with ``tip_px``/``arm_mask``, and their
arm-free twins.

The detector learns from real frames of a dataset with the built-in pusher's annotations
(:mod:`lcvg_env.data.pusher`). Its negatives ("no gripper here") are the same states rendered without
the arm (``PusherConfig.hide_arm``): the recipe of the split is read from ``ROOT/dataset.json``, each
episode is simulated again from its seed, and the re-simulated tips must equal the stored ``tip_px``
exactly, so the arm-free frame shows the very scene of the real one, minus the arm. Rendering needs
MuJoCo (``pip install "lcvg-env[data]"``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lcvg_env.data.episodes import Episode


@dataclass
class TipData:
    """N frames of a split with their ground truth; arrays share the first axis."""

    frames: np.ndarray
    """(N, H, W, 3) uint8 real frames."""
    tips: np.ndarray
    """(N, 2) float32 true tip (x, y) pixels (``tip_px``)."""
    masks: np.ndarray
    """(N, H, W) bool true arm pixels (``arm_mask``)."""
    episode: np.ndarray
    """(N,) int index of the frame's episode (in the order read)."""
    free: np.ndarray | None = None
    """(N, H, W, 3) uint8 the same states rendered without the arm, or None."""

    def __len__(self) -> int:
        return len(self.frames)


def load_tip_data(
    root: str | os.PathLike, split: str, episodes: int | None = None, arm_free: bool = False
) -> TipData:
    """Real frames and annotations of ``root``'s ``split`` (first ``episodes``), at the stored size.

    ``arm_free`` also renders every frame's state without the arm (see the module docstring).
    """
    from lcvg_env.data import open_episodes

    eps = list(open_episodes(root, split=split, strict=True))[:episodes]
    if not eps:
        raise ValueError(f"{root}: the {split!r} split has no episodes.")
    frames, tips, masks, index = [], [], [], []
    for i, ep in enumerate(eps):
        ann = _tip_annotations(ep)
        f = ep.frames()
        frames.append(f)
        tips.append(ann["tip_px"].astype(np.float32))
        masks.append(ann["arm_mask"].astype(bool))
        index.append(np.full(len(f), i))
    data = TipData(np.concatenate(frames), np.concatenate(tips), np.concatenate(masks), np.concatenate(index))
    if arm_free:
        data.free = render_arm_free(root, split, [ep.name for ep in eps], data.tips)
    return data


def _tip_annotations(ep: Episode) -> dict[str, np.ndarray]:
    """The annotations of episode ``ep``; a ``ValueError`` when they hold no ``tip_px``/``arm_mask``."""
    ann = ep.annotations()
    if ann is None or "tip_px" not in ann or "arm_mask" not in ann:
        raise ValueError(
            f"{ep.source}: no tip_px/arm_mask annotations. The tip detector needs data made by "
            "`lcvg data pusher` (annotations.npz beside the frames)."
        )
    return ann


TRAINING_SPLITS: tuple[str, ...] = ("train", "val")
"""The splits of DATA_DIR ``lcvg detector train`` reads: it trains on train and keeps the weights that
score best on val."""


def check_training_data(
    root: str | os.PathLike, episodes: int | None = None, report: tuple[str, ...] = ()
) -> None:
    """What ``lcvg detector train`` reads, checked before any long work (arm-free renders, training): the
    :data:`TRAINING_SPLITS` of ``root`` (the first ``episodes`` of train) and the ``ROOT:SPLIT`` sets of
    ``report`` must be pusher data: split folders of episodes with ``tip_px``/``arm_mask``, recorded as made
    by ``lcvg data pusher`` in ``dataset.json`` (the arm-free twins are rendered again from that record).

    Frame headers and annotations are read, no frame is decoded. Raises ``ValueError`` (a
    :class:`~lcvg_env.data.episodes.DataError` for a broken file) that names the problem and what to do.
    """
    from lcvg_env.data import open_episodes

    root = Path(root).expanduser()
    _check_training_splits(root)
    sets = [(root, "train", episodes), (root, "val", None)]
    sets += [(Path(r).expanduser(), s, None) for r, s in (item.rsplit(":", 1) for item in report)]
    for where, split, limit in sets:
        if not (where / split).is_dir():  # a --report set: DATA_DIR's splits are checked above
            raise ValueError(
                f"--report {where}:{split}: {where / split} is not a split folder; give ROOT:SPLIT of a "
                f"held-out split made by `lcvg data pusher`, e.g. {where}:test."
            )
        generator = _check_made_by_pusher(where, split)
        eps = list(open_episodes(where, split=split, strict=True))[:limit]
        if not eps:
            raise ValueError(f"{where}: the {split!r} split has no episodes.")
        for ep in eps:
            _tip_annotations(ep)
        if generator is None:
            raise ValueError(
                f"{where / 'dataset.json'} does not record that `lcvg data pusher` made the {split!r} split; "
                "the detector's negatives are its episodes rendered again without the arm from that record. "
                f"Write the split with `lcvg data pusher {where} --split {split}`."
            )


def _check_training_splits(root: Path) -> None:
    """A ``ValueError`` unless ``root`` is a folder with the :data:`TRAINING_SPLITS`, none of them made by
    another ``lcvg data`` generator; it says how to write a missing split where that is safe."""
    from lcvg_env.data.discover import generator_command
    from lcvg_env.data.layout import SPLITS

    needs = (
        "`lcvg detector train` needs a dataset folder made by `lcvg data pusher`, with a 'train' split to "
        "train on and a 'val' split to select the weights on"
    )
    if not root.is_dir():
        raise ValueError(f"DATA_DIR {root} {'is a file' if root.exists() else 'does not exist'}; {needs}.")
    for split in TRAINING_SPLITS:
        _check_made_by_pusher(root, split)
    missing = [s for s in TRAINING_SPLITS if not (root / s).is_dir()]
    if not missing:
        return
    present = [s for s in SPLITS if (root / s).is_dir()]
    commands: list[str | None] = []
    if present:  # the command that writes a split like the others, if one generator made them
        commands = [generator_command(root, s) for s in missing]
    elif not any(not p.name.startswith(".") for p in root.iterdir()):  # an empty folder
        commands = [f"lcvg data pusher {root} --split {s}" for s in missing]
    if commands and all(c and c.startswith("lcvg data pusher ") for c in commands):
        todo = "Write " + ("it" if len(missing) == 1 else "them") + " with "
        todo += " and ".join(f"`{c}`" for c in commands)
    else:
        todo = "Pass such a folder as DATA_DIR"
    has = f"it has {', '.join(present)}" if present else "it has no split folders"
    raise ValueError(
        f"DATA_DIR {root} has no {' or '.join(map(repr, missing))} split ({has}); {needs}. {todo}."
    )


def _made_by(root: Path, split: str) -> str | None:
    """The generator ``dataset.json`` records for ``split`` (None when it records none)."""
    from lcvg_env.data.layout import recorded_recipe

    generator = recorded_recipe(root, split).get("generator")
    return generator if isinstance(generator, str) else None


def _check_made_by_pusher(root: Path, split: str) -> str | None:
    """The generator ``dataset.json`` records for ``split``: "pusher", or None when it records none; a
    ``ValueError`` when it records another."""
    generator = _made_by(root, split)
    if generator not in (None, "pusher"):
        raise ValueError(
            f"{root}: the {split!r} split was made by `lcvg data {generator}`, whose episodes hold no "
            "tip_px/arm_mask annotations; the tip detector needs data made by `lcvg data pusher`."
        )
    return generator


SKIP_ARM_FREE = (
    "`lcvg detector eval` skips them with --no-arm-free; `lcvg detector train` needs them (its negatives): "
    "train on data this version of `lcvg data pusher` wrote."
)
"""What to do when arm-free frames cannot be rendered, for both commands that render them."""


def split_recipe(root: str | os.PathLike, split: str) -> dict:
    """The :class:`~lcvg_env.data.pusher.PusherConfig` fields that generated ``split`` (dataset.json)."""
    from lcvg_env.data.layout import DATASET_INFO_FILE
    from lcvg_env.data.pusher import PusherConfig

    path = Path(root) / DATASET_INFO_FILE
    try:
        info = json.loads(path.read_text())["splits"][split]
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path}: cannot read how the {split!r} split was generated ({e!r}); arm-free frames can only "
            f"be rendered for data made by `lcvg data pusher`. {SKIP_ARM_FREE}"
        ) from e
    if info.get("generator") != "pusher":
        raise ValueError(f"{path}: the {split!r} split was not made by the pusher generator.")
    names = {f.name for f in fields(PusherConfig)}
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in info.items() if k in names}


def render_arm_free(root: str | os.PathLike, split: str, names: list[str], tips: np.ndarray) -> np.ndarray:
    """The episodes ``names`` of ``split`` re-simulated and rendered without the arm, (N, H, W, 3) uint8.

    ``tips`` (N, 2) are the stored ``tip_px`` of those episodes, concatenated: the re-simulation must
    reproduce them exactly, or the data was not made by this version of the generator.
    """
    from lcvg_env.data.pusher import PusherConfig, episode_rng, rollout
    from lcvg_env.data.pusher_sim import PusherSim

    recipe = split_recipe(root, split)
    cfg = PusherConfig(**{**recipe, "hide_arm": True})
    out, start = [], 0
    with PusherSim(cfg.size, cfg.substeps, supersample=2 if cfg.size <= 128 else 1) as sim:
        for name in names:
            if not name.isdigit():
                raise ValueError(
                    f"{Path(root) / split / name}: the folder name is not an episode index, so this is not a "
                    f"generated pusher episode and its arm-free frames cannot be rendered. {SKIP_ARM_FREE}"
                )
            frames, ann = rollout(sim, cfg, episode_rng(cfg.seed, cfg.split, int(name)))
            stored = tips[start : start + len(frames)]
            if len(stored) != len(frames) or not np.allclose(ann["tip_px"], stored, atol=1e-3):
                raise ValueError(
                    f"{Path(root) / split / name}: re-simulating the episode from dataset.json does not "
                    "reproduce its tip_px, so its arm-free frames cannot be rendered (data made by another "
                    f"version of the generator?). {SKIP_ARM_FREE}"
                )
            out.append(frames)
            start += len(frames)
    return np.concatenate(out)
