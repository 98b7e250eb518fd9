"""``lcvg export ...``: action-labelled datasets from raw video (``labels``) or the env (``rollouts``).

Mounted by ``lcvg_env/cli.py``; options as in docs/cli.md. Heavy imports (torch, minari) happen inside
the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from lcvg_env.cli_options import (
    DEVICE_DEFAULT,
    OVERWRITE_HELP,
    THREADS_DEFAULT,
    Actuation,
    Device,
    DtypeAlias,
    Model,
    NEnvs,
    NumEnvsAlias,
    OutArgAlias,
    Precision,
    Progress,
    QuietAlias,
    Region,
    Threads,
    deprecated,
    env_dtype,
    out_path,
)

app = typer.Typer(
    help="Export action-labelled datasets (Minari or npz): labels for raw video, or env rollouts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Export folder (for Minari: a datasets root, MINARI_DATASETS_PATH=OUT).  [required]",
        show_default=False,
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="minari (Farama's offline-RL format) or npz.")]
DatasetIdOpt = Annotated[
    str | None, typer.Option(help="Minari dataset id (default: lcvg/<checkpoint>-<kind>-v0).")
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)]
PreviewOpt = Annotated[
    bool, typer.Option("--preview", help="Also write previews/episode_XXXXX.mp4 per episode.")
]


def _report(summary) -> None:
    typer.echo(json.dumps(summary.as_dict(), indent=2))


def _fail(exc: Exception) -> None:
    typer.echo(f"Error: {exc}", err=True)
    raise typer.Exit(code=1)


def _fail_os(out: Path, exc: OSError) -> NoReturn:
    """An OS error while exporting, in one line: the cause with its remedy, and that finished episodes
    stay (each is written aside, then renamed; the same command resumes)."""
    from lcvg_env.atomic import DiskFullError
    from lcvg_env.outputs import describe_os_error

    if isinstance(exc, DiskFullError):  # already names the folder, the space and what is kept
        _fail(exc)
    where = f"--out {out}" if exc.filename is None else str(exc.filename)  # the file it happened on
    typer.echo(
        f"Error: {where}: {describe_os_error(exc)}. Finished episodes are kept; run the same command "
        "again to continue.",
        err=True,
    )
    raise typer.Exit(code=1) from exc


def _interrupted(out: Path, exc: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C: say what is kept (every finished episode; a half-done one never lands) and how to go on."""
    from lcvg_env.export.store import EpisodeStore, ExportError

    try:
        done = str(len((EpisodeStore._read_manifest(out) or {}).get("episodes", {})))
    except ExportError:  # interrupted before the export folder was set up
        done = "0"
    typer.echo(
        f"Interrupted: the {done} finished episode(s) in {out} are kept; run the same command again to "
        "resume from them.",
        err=True,
    )
    raise typer.Exit(code=130) from exc  # 128 + SIGINT, as a shell reports Ctrl-C


@app.command()
def labels(
    checkpoint: Model,
    data_dir: Annotated[Path, typer.Argument(help="Raw-video dataset (any layout `lcvg data info` reads).")],
    out_arg: OutArgAlias = None,
    out: OutOpt = None,
    split: Annotated[str, typer.Option(help="Split to label: train, val or test.")] = "train",
    output_format: FormatOpt = "minari",
    control: Annotated[
        str | None, typer.Option(help="translation, rotation or affine (default: the checkpoint's).")
    ] = None,
    solver: Annotated[
        str, typer.Option(help="Eq. 5 solver: fast, reference (paper's Adam) or brute (exhaustive, slow).")
    ] = "fast",
    max_episodes: Annotated[
        int | None, typer.Option(help="Label at most this many episodes (default: all).")
    ] = None,
    closed_loop: Annotated[
        bool,
        typer.Option(
            "--closed-loop",
            help="Fit each action from the env's own frame to the video's next one, stepping the env beside "
            "the video: actions that make the env follow the video when replayed from its first frame "
            "(default: fitted between two real frames).",
        ),
    ] = False,
    dataset_id: DatasetIdOpt = None,
    overwrite: OverwriteOpt = False,
    preview: PreviewOpt = False,
    progress: Progress = True,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    quiet: QuietAlias = False,
) -> None:
    """Label every episode of a raw-video dataset with the controls fitted between its masks (Eq. 5)."""
    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.export.labels import accuracy_line, closed_loop_agreement, export_labels, label_accuracy
    from lcvg_env.export.store import ExportError
    from lcvg_env.runtime import resolve_device

    out = out_path(out, out_arg)
    if quiet:
        deprecated("--quiet", "--no-progress")
        progress = False
    try:
        summary = export_labels(
            checkpoint, data_dir, out, split=split, output_format=output_format, control=control,
            solver=solver, dataset_id=dataset_id, max_episodes=max_episodes, overwrite=overwrite,
            preview=preview, progress=progress, threads=threads, device=resolve_device(device),
            closed_loop=closed_loop,
        )  # fmt: skip
    except (ExportError, CheckpointError, ValueError, FileNotFoundError, ImportError) as exc:
        _fail(exc)
    except OSError as exc:  # a folder made read-only mid-export, a full disk: what is kept, and what to do
        _fail_os(out, exc)
    except KeyboardInterrupt as exc:
        _interrupted(out, exc)
    _report(summary)
    accuracy = label_accuracy(out, data_dir, split)  # only where the data has tip_px annotations
    if accuracy is not None:
        typer.echo(accuracy_line(accuracy))
    agreement = closed_loop_agreement(out) if closed_loop else None
    if agreement is not None:
        typer.echo(
            f"closed loop: the env's mask vs the video's, IoU {agreement['iou_mean']:.3f} over the steps, "
            f"{agreement['iou_last']:.3f} at the last ({agreement['episodes']} episodes)"
        )


@app.command()
def rollouts(
    checkpoint: Model,
    out_arg: OutArgAlias = None,
    out: OutOpt = None,
    episodes: Annotated[int, typer.Option(help="Number of episodes.")] = 16,
    steps: Annotated[int, typer.Option(help="Actions per episode (observations: steps + 1).")] = 30,
    policy: Annotated[
        str, typer.Option(help="random (smooth random walk), uniform, constant or zero.")
    ] = "random",
    smoothness: Annotated[float, typer.Option(help="Random walk: correlation of consecutive actions.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Episode i uses seed + i (start frame and actions).")] = 0,
    n_envs: NEnvs = 8,
    max_displacement: Annotated[
        float | None, typer.Option(help="Pixels per unit action; default: the checkpoint's trained range.")
    ] = None,
    max_rotation: Annotated[
        float | None, typer.Option(help="Radians per unit action (rotation/affine); default: the env's.")
    ] = None,
    actuation: Actuation = "direct",
    region: Region = "none",
    precision: Precision = "bf16",
    compile: Annotated[
        bool, typer.Option(help="torch.compile the env's step: faster large exports after ~30 s.")
    ] = False,
    output_format: FormatOpt = "minari",
    dataset_id: DatasetIdOpt = None,
    overwrite: OverwriteOpt = False,
    preview: PreviewOpt = False,
    progress: Progress = True,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    quiet: QuietAlias = False,
    num_envs: NumEnvsAlias = None,
    dtype: DtypeAlias = None,
) -> None:
    """Generate episodes in the environment with sampled actions and export them with their actions."""
    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.export.rollouts import PolicyConfig, export_rollouts
    from lcvg_env.export.store import ExportError
    from lcvg_env.runtime import resolve_device

    out = out_path(out, out_arg)
    if quiet:
        deprecated("--quiet", "--no-progress")
        progress = False
    if num_envs is not None:
        deprecated("--num-envs", "--n-envs")
        n_envs = num_envs
    if dtype is not None:
        deprecated("--dtype", "--precision")
    try:
        summary = export_rollouts(
            checkpoint, out, episodes=episodes, steps=steps,
            policy=PolicyConfig(name=policy, smoothness=smoothness), seed=seed, num_envs=n_envs,
            max_displacement=max_displacement, max_rotation=max_rotation, actuation=actuation, region=region,
            dtype=dtype or env_dtype(precision),
            output_format=output_format, dataset_id=dataset_id, overwrite=overwrite, preview=preview,
            progress=progress, threads=threads, compile=compile, device=resolve_device(device),
        )  # fmt: skip
    except (ExportError, CheckpointError, ValueError, FileNotFoundError, ImportError) as exc:
        _fail(exc)
    except OSError as exc:  # a folder made read-only mid-export, a full disk: what is kept, and what to do
        _fail_os(out, exc)
    except KeyboardInterrupt as exc:
        _interrupted(out, exc)
    _report(summary)
