"""``lcvg data ...``: generate the built-in datasets, and inspect any dataset.

Mounted by ``lcvg_env/cli.py``. Heavy imports (mujoco, ale-py, torch) happen inside the commands.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Datasets: generate the built-in robot-pushing, Breakout and Atari Tennis sets; inspect any set.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

OutDir = Annotated[Path, typer.Argument(help="Dataset root; episodes go to OUT_DIR/<split>/<episode>/.")]
Split = Annotated[str, typer.Option(help="Split folder to write: train, val or test.")]
Seed = Annotated[int, typer.Option(help="Random seed (same seed + split = same episodes).")]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace the split's episodes even if another seed or size made them (default: refuse).",
    ),
]


@contextlib.contextmanager
def _writing(
    out_dir: Path, split: str, recipe: dict, overwrite: bool, settings: Callable[[], object]
) -> Iterator[None]:
    """The settings (``settings()`` builds the generator's config, which raises ``ValueError`` on a bad
    one) and where the episodes go (``OUT_DIR/SPLIT``) are checked before anything is written: bad
    settings, a path that cannot be written, or a split that holds episodes another recipe made (another
    seed or size: they would be replaced under the same names) without ``--overwrite``. Such a refusal
    leaves OUT_DIR as it was (``dataset.json`` too); it, or a full disk later, ends the command with its
    message and exit code 1 or 2 (no traceback). With ``--overwrite``, the split's older episodes beyond
    the new count are removed once the new ones are written."""
    from lcvg_env.atomic import DiskFullError
    from lcvg_env.data.layout import begin_split, check_split, check_split_free, remove_episodes_beyond
    from lcvg_env.outputs import OutputError, check_output_dir

    try:
        check_split(split)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--split") from exc
    try:
        settings()  # before begin_split records the recipe: a refused command writes nothing
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        check_output_dir(out_dir / split, "OUT_DIR")
        check_split_free(out_dir, split, recipe, overwrite)
        begin_split(out_dir, split, recipe)
        yield
        if overwrite:
            remove_episodes_beyond(out_dir, split, recipe["episodes"])
    except (DiskFullError, OutputError, FileExistsError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    except KeyboardInterrupt as exc:  # each episode lands whole or not at all; the recipe is recorded
        typer.echo(
            f"Interrupted: the finished episodes in {out_dir / split} are kept; run the same command again "
            "to write the rest.",
            err=True,
        )
        raise typer.Exit(code=130) from exc


def _print_summary(summary: dict, keys: tuple[str, ...]) -> None:
    typer.echo(json.dumps({k: summary[k] for k in keys if k in summary}, indent=2))


@app.command()
def pusher(
    out_dir: OutDir,
    episodes: Annotated[int, typer.Option(help="Number of episodes.")] = 16,
    frames: Annotated[int, typer.Option(help="Frames per episode (BAIR: 30).")] = 30,
    size: Annotated[int, typer.Option(help="Square frame size in pixels (BAIR: 64).")] = 64,
    seed: Seed = 0,
    split: Split = "train",
    overwrite: Overwrite = False,
) -> None:
    """Render a BAIR-like robot-pushing dataset with MuJoCo (frames + ground truth per episode)."""
    from lcvg_env.data.pusher import PusherConfig, generate_pusher

    recipe = {"generator": "pusher", "seed": seed, "frames": frames, "size": size, "episodes": episodes}
    args = dict(episodes=episodes, frames=frames, size=size, seed=seed, split=split)
    with _writing(out_dir, split, recipe, overwrite, partial(PusherConfig, **args)):
        try:
            summary = generate_pusher(out_dir, **args)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    _print_summary(
        summary, ("out_dir", "split", "episodes", "frames", "size", "moved_share", "mean_arm_area", "fps")
    )


@app.command()
def breakout(
    out_dir: OutDir,
    episodes: Annotated[int, typer.Option(help="Number of episodes.")] = 8,
    frames: Annotated[int, typer.Option(help="Frames per episode (fewer if the game ends).")] = 100,
    height: Annotated[int, typer.Option(help="Stored frame height; 0 keeps ALE's 210.")] = 0,
    width: Annotated[int, typer.Option(help="Stored frame width; 0 keeps ALE's 160.")] = 0,
    seed: Seed = 0,
    split: Split = "train",
    overwrite: Overwrite = False,
) -> None:
    """Record Atari Breakout episodes with ale-py (a Playable Video Generation dataset)."""
    from lcvg_env.data.breakout import BreakoutConfig, generate_breakout

    if (height == 0) != (width == 0):
        raise typer.BadParameter("Give both --height and --width, or neither.")
    size = (height, width) if height else None
    recipe = {"generator": "breakout", "seed": seed, "frames": frames, "size": size, "episodes": episodes}
    args = dict(episodes=episodes, frames=frames, seed=seed, split=split, size=size)
    with _writing(out_dir, split, recipe, overwrite, partial(BreakoutConfig, **args)):
        try:
            summary = generate_breakout(out_dir, **args)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    _print_summary(summary, ("out_dir", "split", "episodes", "frames_written", "ball_visible_share", "fps"))


@app.command("atari-tennis")
def atari_tennis(
    out_dir: OutDir,
    episodes: Annotated[int, typer.Option(help="Number of episodes.")] = 16,
    frames: Annotated[int, typer.Option(help="Frames per episode (stretches of continuous play).")] = 30,
    size: Annotated[int, typer.Option(help="Square frame size in pixels (the court, area-resized).")] = 64,
    frameskip: Annotated[int, typer.Option(help="ALE frames per step (players move 1 px per frame).")] = 4,
    seed: Seed = 0,
    split: Split = "train",
    overwrite: Overwrite = False,
) -> None:
    """Record Atari Tennis with ale-py: both players move (ours randomly, the opponent by the game)."""
    from lcvg_env.data.atari_tennis import AtariTennisConfig, generate_atari_tennis

    recipe = dict(
        generator="atari-tennis", seed=seed, frames=frames, size=size, frameskip=frameskip, episodes=episodes
    )
    args = dict(episodes=episodes, frames=frames, size=size, seed=seed, split=split, frameskip=frameskip)
    with _writing(out_dir, split, recipe, overwrite, partial(AtariTennisConfig, **args)):
        try:
            summary = generate_atari_tennis(out_dir, **args)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    _print_summary(
        summary,
        (
            "out_dir",
            "split",
            "episodes",
            "frames",
            "size",
            "step_px",
            "moving_share",
            "ball_seen_share",
            "fps",
        ),
    )


@app.command()
def info(
    root: Annotated[
        Path, typer.Argument(help="Dataset: layout folder, episode folders, videos or TFRecords.")
    ],
    split: Annotated[str, typer.Option(help="Split to inspect.")] = "train",
    strict: Annotated[bool, typer.Option(help="Fail on the first broken episode.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Read frame headers only (default: decode every frame).")
    ] = False,
) -> None:
    """Count the episodes and frames of a dataset and report broken files (exit code 1 if any).

    Every frame is decoded and the annotations are checked against the frames, as training does before
    its first step, so a file that would be left out of training is reported here (an episode of a
    single frame too: it holds no motion to learn or label).
    """
    import warnings

    from lcvg_env.data.discover import DataWarning
    from lcvg_env.data.episodes import DataError
    from lcvg_env.data.validate import validate_split

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # the report below lists every problem
            report = validate_split(
                root, split=split, min_frames=2, decode=not quick, strict=strict, warn=False
            )  # an episode of one frame holds no motion: training and labelling leave it out too
    except DataError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(json.dumps(report.as_dict(), indent=2))
    if report.problems:
        typer.echo(report.summary(), err=True)
        raise typer.Exit(code=1)
