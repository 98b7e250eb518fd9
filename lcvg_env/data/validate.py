"""Check a dataset before long work reads it: every frame decoded, the annotations against the frames.

Opening a dataset reads only the frames' headers; a truncated or damaged frame, or annotations that no
longer match the frames, show only when the episode is decoded. :func:`validate_split` decodes every
frame of every episode and reads its annotations (checked by
:func:`~lcvg_env.data.episodes.check_annotations`), and returns the usable episodes and one message per
broken episode, naming its file and what is wrong.

Training runs it on every split it reads before its first step (through :class:`~lcvg_env.data.VideoDataset`
for the training pairs, directly for the stage-1 mask check), and so do the label export and the
measuring commands (evaluate, budget, control-gain, env-realism) before their long work; every reader
leaves the broken episodes out the same way, so a broken frame never stops a run late, and a resumed run
sees the same episodes. ``lcvg data info`` prints the same report.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lcvg_env.data.discover import DataWarning, open_episodes
from lcvg_env.data.episodes import DataError, Episode


def fix_hint(root: Path | str, split: str) -> str:
    """What to do about broken episodes (the same words everywhere they are reported)."""
    return f"Delete or re-generate the broken episodes; `lcvg data info {root} --split {split}` lists them."


def check_episode(ep: Episode, min_frames: int = 1, decode: bool = True) -> None:
    """Raise :class:`DataError` (naming the file) unless ``ep`` has ``min_frames`` frames, every frame
    decodes (unless ``decode`` is False: the caller decodes them), and its annotations, if any, match
    its frames."""
    if ep.num_frames < min_frames:
        raise DataError(
            f"{ep.source}: {ep.num_frames} frame(s), fewer than the {min_frames} needed "
            "(an action lies between two frames). Remove the episode or give it more frames."
        )
    if decode:
        ep.frames()  # decodes every frame: truncated or damaged files fail here, not later
    ep.annotations()


@dataclass
class DataReport:
    """What :func:`validate_split` found: the usable episodes and one message per broken one."""

    root: Path
    split: str
    episodes: list[Episode] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(ep.num_frames for ep in self.episodes)

    @property
    def broken(self) -> int:
        return len(self.problems)

    def summary(self) -> str:
        """One message for all broken episodes, with the fix."""
        listed = "\n".join(f"  - {p}" for p in self.problems)
        return (
            f"{self.broken} broken episode(s) in {self.root} (split {self.split!r}), left out:\n{listed}\n"
            + fix_hint(self.root, self.split)
        )

    def as_dict(self) -> dict[str, Any]:
        counts = [ep.num_frames for ep in self.episodes]
        return {
            "root": str(self.root),
            "split": self.split,
            "episodes": len(self.episodes),
            "frames": int(sum(counts)),
            "min_frames": min(counts, default=0),
            "max_frames": max(counts, default=0),
            "kinds": sorted({type(ep).__name__ for ep in self.episodes}),
            "broken": self.broken,
            "problems": self.problems,
        }


def validate_split(
    root: str | Path,
    split: str = "train",
    *,
    min_frames: int = 1,
    decode: bool = True,
    limit: int | None = None,
    keep: Callable[[Episode], bool] | None = None,
    strict: bool = False,
    warn: bool = True,
) -> DataReport:
    """Open ``split`` of ``root`` and check every episode (see the module docstring).

    Args:
        min_frames: episodes with fewer frames are broken (2 for anything that needs an action).
        decode: decode every frame (False: frame headers and annotations only).
        limit: stop once this many usable episodes are found (for a run that reads only the first ones).
        keep: only episodes for which this is True are checked and used (e.g. long enough for a
            measurement); the others are passed over silently (from their headers, nothing is decoded).
        strict: raise the first problem as :class:`DataError` instead of leaving the episode out.
        warn: one :class:`DataWarning` listing every broken episode and the fix.

    Raises :class:`DataError` when the path holds no episode at all (the message says what is expected).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # reported once below, with the decoding problems
        found = open_episodes(root, split=split, strict=strict)
    report = DataReport(Path(root), split, problems=list(found.problems))
    for ep in found:
        if limit is not None and len(report.episodes) >= limit:
            break
        if keep is not None and not keep(ep):
            continue
        try:
            check_episode(ep, min_frames, decode=decode)
        except DataError as exc:
            if strict:
                raise
            report.problems.append(str(exc))
            continue
        report.episodes.append(ep)
    if warn and report.problems:
        warnings.warn(report.summary(), DataWarning, stacklevel=2)
    return report
