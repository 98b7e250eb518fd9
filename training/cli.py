"""``lcvg train``: train a world model on a video dataset (both stages of the paper).

One process::

    lcvg train data/pusher --preset tiny-64 --out runs/pusher

Many GPUs or nodes (PyTorch DDP, the same options)::

    torchrun --nproc_per_node 4 -m training data/pusher --preset bair-256 --out runs/bair
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from lcvg_env.cli_options import THREADS_DEFAULT, Progress, Threads

from .config import MASK_SOURCES, PRECISIONS, PRESET_DEFAULTS, TrainConfig


def resolve_config(preset: str | None, run_dir: Path, resume: bool, overrides: dict[str, Any]) -> Any:
    """The run's TrainConfig: the preset's defaults (``preset`` None: ``TrainConfig``'s default), or on
    ``--resume`` the stored config; then the options given on the command line. A ``--preset`` other than
    the resumed run's is refused (its networks, weights and optimizer state are that preset's)."""
    from .config import preset_config
    from .state import load_state

    if not resume:
        return preset_config(preset or TrainConfig.preset, **overrides)
    stored = load_state(run_dir / "state")[1]["config"]
    if preset is not None and preset != stored["preset"]:
        raise ValueError(
            f"--preset {preset}: the run in {run_dir} was made with preset {stored['preset']} (its weights "
            "and state are that preset's); drop --preset to continue it, or start a new run with another "
            "--out."
        )
    changed = {k: v for k, v in overrides.items() if v is not None and stored.get(k) != v}
    if changed:
        typer.echo(f"Resuming with changed settings: {changed}")
    return TrainConfig(**{**stored, **changed})


def named_settings(given: dict[str, Any]) -> dict[str, Any]:
    """The options of ``train`` named after a :class:`TrainConfig` field (the config is not restated:
    every option of that name is passed on; None: not given)."""
    from .config import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"preset"}
    return {k: v for k, v in given.items() if k in names and v is not None}


def config_settings(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as TrainConfig overrides; VALUE is a Python literal (number, list,
    True/False/None) or else a string. An unknown KEY is a ``ValueError`` listing the fields."""
    from .config import TrainConfig

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or key not in fields or key == "preset":
            raise ValueError(
                f"--set {item!r}: expected KEY=VALUE with KEY a TrainConfig field, one of "
                f"{', '.join(sorted(set(fields) - {'preset'}))} (--preset sets the preset)."
            )
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word: a string (e.g. --set lpips_net=alex)
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


PRESET_DEFAULT = " (default: the preset's; on --resume the run's)"
"""Help suffix of the options whose default comes from ``--preset`` (or, on ``--resume``, the run)."""


def installed_destination(name: str, overwrite: bool) -> Path:
    """Where ``--install-as NAME`` writes, checked before training: a plain model name (never a path),
    no model installed under it and no packaged model of that name (which an installed one would shadow
    for ``LCVG-*-v0``, ``lcvg demo`` and every command taking NAME) unless ``overwrite``."""
    from lcvg_env.env.resolve import ASSETS_DIR, check_model_name, installed_checkpoint_path

    dest = installed_checkpoint_path(check_model_name(name, "--install-as"))
    if dest.exists() and not overwrite:
        raise FileExistsError(
            f"--install-as {name}: a model is already installed as {dest}; pass --overwrite to replace "
            "it, or pick another name."
        )
    packaged = ASSETS_DIR / f"{name}.safetensors"
    if packaged.exists() and not overwrite:
        raise FileExistsError(
            f"--install-as {name}: the package ships a model named {name} ({packaged}); an installed one "
            f"would take its place wherever the name is used (the env ids, lcvg demo, lcvg evaluate {name}). "
            "Pick another name (e.g. my_pusher), or pass --overwrite to shadow it on purpose."
        )
    return dest


def install_checkpoint(path: Path, name: str, overwrite: bool = False) -> Path:
    """Copy a checkpoint to ``$LCVG_HOME/checkpoints/NAME.safetensors`` (temp file + rename); refuses a
    name that is not a plain model name, and an installed model of that name unless ``overwrite``."""
    dest = installed_destination(name, overwrite)  # where the environment looks for the name
    from lcvg_env.atomic import atomic_path

    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        shutil.copyfile(path, tmp)
    return dest


def check_outputs(
    out: Path, resume: bool, install_as: str | None, overwrite: bool, init: str | None = None
) -> None:
    """Everything ``train`` will write, checked before the first step: the run folder and the install."""
    from lcvg_env.outputs import check_output_dir

    if resume and not out.is_dir():
        raise ValueError(f"--resume: {out} is not a run folder; start the run without --resume.")
    if resume and init is not None:
        raise ValueError("--init starts a new run from a model's weights; --resume continues a run: use one.")
    check_output_dir(out, "--out")
    if install_as is not None:
        check_output_dir(installed_destination(install_as, overwrite).parent, "--install-as")


def train(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder (any layout `lcvg data` readers accept).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: model, resume state, logs.")],
    preset: Annotated[
        str | None,
        typer.Option(
            help=f"Model preset: {', '.join(PRESET_DEFAULTS)} (`lcvg presets` lists each one's settings; "
            f"default: {TrainConfig.preset}; on --resume the run's, and another one is refused)."
        ),
    ] = None,
    stage1_steps: Annotated[
        int | None, typer.Option(help="Stage-1 iterations (mask-based generation)." + PRESET_DEFAULT)
    ] = None,
    stage2_steps: Annotated[
        int | None, typer.Option(help="Stage-2 iterations (fine-tuning for control)." + PRESET_DEFAULT)
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Pairs per step and process." + PRESET_DEFAULT)
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate." + PRESET_DEFAULT)] = None,
    frame_skip: Annotated[
        int | None,
        typer.Option(help="Frames between x^t and its target (default: 1; on --resume the run's)."),
    ] = None,
    max_frame_skip: Annotated[
        int | None,
        typer.Option(
            help="Mixed gaps: draw each pair's gap in --frame-skip..this (default: none, fixed gaps; on "
            "--resume the run's)."
        ),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option(help="translation, rotation or affine (default: translation; on --resume the run's)."),
    ] = None,
    stage2_mask_source: Annotated[
        str | None, typer.Option(help=f"Stage-2 masks: {', '.join(MASK_SOURCES)}." + PRESET_DEFAULT)
    ] = None,
    lpips_weight: Annotated[
        float | None,
        typer.Option(
            help="Weight of the LPIPS reconstruction term (needs the metrics extra)." + PRESET_DEFAULT
        ),
    ] = None,
    lpips_net: Annotated[
        str | None, typer.Option(help="LPIPS backbone of that term: vgg or alex." + PRESET_DEFAULT)
    ] = None,
    rollout_steps: Annotated[
        int | None,
        typer.Option(
            help="Stage 2: train on the model's own rollouts of up to N steps (0: real inputs)."
            + PRESET_DEFAULT
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(help=f"Training precision: auto or one of {', '.join(PRECISIONS)}." + PRESET_DEFAULT),
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Checkpoint every N steps." + PRESET_DEFAULT)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: 0; on --resume the run's).")] = None,
    init: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL",
            help="Start from this model's weights (a name or .safetensors file with the preset's networks) "
            "instead of random ones: fine-tuning; with --stage1-steps 0 the run starts in stage 2.",
        ),
    ] = None,
    threads: Threads = THREADS_DEFAULT,
    device: Annotated[
        str | None,
        typer.Option(
            help="Torch device: auto (cuda, then mps, else cpu), cpu, cuda, cuda:N or mps "
            "(default: auto; on --resume the run's own)."
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    install_as: Annotated[
        str | None,
        typer.Option(
            help="Also copy the final model to $LCVG_HOME/checkpoints/NAME.safetensors "
            "(NAME: letters, digits, _ and -)."
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="With --install-as: replace (or shadow a packaged) model of that name."
        ),
    ] = False,
    progress: Progress = True,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any other TrainConfig field as KEY=VALUE (repeatable), e.g. --set disc_start=5001 "
            "--set betas=[0.5,0.9] (fields: docs/training.md, training/config.py).",
        ),
    ] = None,
) -> None:
    """Train a layered controllable world model: stage 1 (masks), then stage 2 (control)."""
    given = dict(locals())  # the options as given: those named after TrainConfig fields are passed on
    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.outputs import describe_os_error
    from lcvg_env.runtime import check_device, check_threads

    from .state import StateError
    from .trainer import Trainer, TrainingDiverged

    try:
        overrides = {**config_settings(settings), **named_settings(given)}
        check_threads(threads)
        if device is not None:
            check_device(device)
        check_outputs(out, resume, install_as, overwrite, init)
        cfg = resolve_config(preset, out, resume, overrides)
        start = time.perf_counter()
        trainer = Trainer(cfg, data_dir, out, resume=resume, progress=progress)
        result = trainer.train()
    except (ValueError, ImportError, FileExistsError, StateError, TrainingDiverged, CheckpointError) as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(1) from e
    except OSError as e:  # a full disk, a folder made read-only mid-run: no traceback, the cause and the fix
        from .state import has_state

        try:
            resumable = has_state(out)  # a state was saved before the error
        except OSError:  # the folder itself cannot be read: say what can be said
            resumable = False
        then = "continue with --resume" if resumable else "run the same command again (no state saved yet)"
        typer.echo(
            f"Error: {e.filename or out}: {describe_os_error(e)}. Files written before are complete "
            f"(checkpoints are written aside, then renamed); once fixed, {then}.",
            err=True,
        )
        raise typer.Exit(1) from e
    if result.checkpoint is None:  # DDP ranks other than 0
        return
    summary = {
        "steps": result.step,
        "seconds": round(time.perf_counter() - start, 1),
        "precision": trainer.precision,
        "checkpoint": str(result.checkpoint),
        "last_losses": {k: round(v, 5) for k, v in result.logs.items()},
        "mask_iou": result.mask_iou,
        "interrupted": result.interrupted,
    }
    if install_as and not result.interrupted:
        try:
            summary["installed"] = str(install_checkpoint(result.checkpoint, install_as, overwrite))
        except (ValueError, OSError) as e:  # e.g. a model installed under NAME while this run trained
            typer.echo(f"Error: not installed: {e}; the model is at {result.checkpoint}.", err=True)
            raise typer.Exit(1) from e
    typer.echo(json.dumps(summary, indent=2))
    if result.interrupted:
        raise typer.Exit(130)


def main() -> None:
    """``python -m training`` / ``torchrun -m training``: the same command without the ``lcvg`` front door."""
    from lcvg_env.cli_help import plain_help

    plain_help()
    typer.run(train)


if __name__ == "__main__":
    main()
