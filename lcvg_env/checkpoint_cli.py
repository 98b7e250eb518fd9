"""``lcvg checkpoint``: look inside a world-model checkpoint, and bundle one for shipping.

``info`` says which file a name or path resolves to (the lookup order of
:func:`lcvg_env.env.resolve.resolve_checkpoint`) and what is in it, without loading the weights.
``bundle`` writes a copy for the package or for sharing: fp16 weights (half the size, widened to fp32 on
load), the generation-time options (``GeneratorConfig.composite_margin`` and ``correction_passes``,
docs/fidelity.md), the env's default action range (:mod:`lcvg_env.control.control_range`) and where
it came from. Heavy imports stay inside the commands: the CLI imports this module at start-up.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from lcvg_env.cli_options import (
    DEVICE_DEFAULT,
    THREADS_DEFAULT,
    Device,
    Model,
    OutArgAlias,
    Threads,
    out_path,
)

app = typer.Typer(
    help="Inspect a world-model checkpoint, or bundle one (fp16, generation-time composite).",
    no_args_is_help=True,
)


def parse_margin(text: str) -> int | None:
    """``none`` -> None, a non-negative integer -> itself; anything else is a clear error."""
    if text.strip().lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise typer.BadParameter(f"expected 'none' or an integer >= 0 (pixels), got {text!r}.")
    return value


@app.command()
def info(
    checkpoint: Model,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
) -> None:
    """Which file a model name or path resolves to, and its metadata (preset, step, size, composite); the
    weights are loaded and checked too (finite, and fitting the stored config)."""
    from lcvg_env.checkpoint import CheckpointError, load_checkpoint, read_metadata
    from lcvg_env.control.control_range import default_max_displacement
    from lcvg_env.env.resolve import resolve_checkpoint

    try:
        path = resolve_checkpoint(checkpoint)
        meta = read_metadata(path)
        load_checkpoint(path)  # the weights too: a file whose weights are NaN or do not fit its config fails
    except (FileNotFoundError, CheckpointError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    if as_json:
        typer.echo(json.dumps({"path": str(path), "weights_checked": True, **meta}, indent=2))
        return
    cfg = meta["config"]
    rows: list[tuple[str, Any]] = [
        ("file", path),
        ("size", f"{path.stat().st_size / 1e6:.2f} MB"),
        ("weights", "checked: finite, fit the config"),
        ("preset", meta.get("preset")),
        ("step", meta.get("step")),
        ("frame (HxW)", f"{meta['height']}x{meta['width']}"),
        ("control mode", meta["control_mode"]),
        ("composite margin", cfg.get("composite_margin")),
        ("correction passes", cfg.get("correction_passes", 0)),
        ("correction strength", cfg.get("correction_strength", 1.0)),
        ("correction timing", cfg.get("correction_timing", "within")),
        ("sub-pixel moves", cfg.get("subpixel", False)),
        ("max_displacement", f"{default_max_displacement(meta.get('extra')):g} px (env default)"),
        ("created", meta.get("created")),
    ]
    rows += [(f"extra.{k}", json.dumps(v)) for k, v in (meta.get("extra") or {}).items()]
    for key, value in rows:
        typer.echo(f"{key:>18}: {value}")


@app.command()
def bundle(
    source: Annotated[
        str,
        typer.Argument(
            metavar="MODEL", help="Model name or checkpoint file (e.g. runs/NAME/model.safetensors)."
        ),
    ],
    out_arg: OutArgAlias = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The .safetensors file to write.  [required]", show_default=False),
    ] = None,
    half: Annotated[bool, typer.Option("--half/--full", help="Store fp16 weights (half the size).")] = True,
    composite_margin: Annotated[
        str | None,
        typer.Option(
            help="Generation-time composite: 'none' (off) or a margin in pixels; default: keep the source's."
        ),
    ] = None,
    correction_passes: Annotated[
        int | None,
        typer.Option(help="Lag-correction passes per step (0: off); default: keep the source's.", min=0),
    ] = None,
    correction_strength: Annotated[
        float | None,
        typer.Option(
            help="Share of the fitted lag each correction pass moves the mask on by, in (0, 1] (passes "
            "off: --correction-passes 0); default: keep the source's.",
        ),
    ] = None,
    correction_timing: Annotated[
        str | None,
        typer.Option(
            help="When the lag correction acts: 'within' (the step renders again) or 'next' (the lag is "
            "carried into the next step's move: one generation a step; needs --subpixel and 1 pass); "
            "default: keep the source's.",
        ),
    ] = None,
    subpixel: Annotated[
        bool | None,
        typer.Option(
            "--subpixel/--no-subpixel",
            help="Sub-pixel mask moves (the rounding remainder carried to the next step); "
            "default: keep the source's.",
            show_default=False,
        ),
    ] = None,
    max_displacement: Annotated[
        str | None,
        typer.Option(
            help="The env's default action range to record: 'auto' (measured on --data, as `lcvg train` "
            "does), pixels, or 'none' (the env's fallback); default: keep the source's."
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            help="The motion region to record (where the foreground's centroid went in the video, or each "
            "player's with --players; the env keeps it there, docs/env.md): 'auto' (measured on --data with "
            "the model's M) or 'none'; default: keep the source's."
        ),
    ] = None,
    actuator: Annotated[
        str | None,
        typer.Option(
            help="The arm's response to its commands to record (the env's actuation='data', docs/env.md): "
            "'auto' (fitted on --data's commands and true tip positions) or 'none'; "
            "default: keep the source's."
        ),
    ] = None,
    actuator_taps: Annotated[
        int, typer.Option(help="Steps of the response fitted by --actuator auto.", min=1, max=32)
    ] = 6,
    data: Annotated[
        Path | None, typer.Option(help="Dataset of --max-displacement, --region and --actuator auto.")
    ] = None,
    split: Annotated[
        str,
        typer.Option(help="Split of --data measured by --max-displacement, --region and --actuator auto."),
    ] = "train",
    players: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=4,
            help="Foregrounds measured each on its own by --max-displacement and --region auto (the env's "
            "players); default: the training's (`players` of its config), else 1.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
) -> None:
    """Write a copy of a checkpoint for shipping: fp16 weights, the chosen composite, lag correction and
    action range, and where it came from."""
    import dataclasses
    import hashlib

    from lcvg_env.checkpoint import CheckpointError, read_metadata, save_checkpoint
    from lcvg_env.control.control_range import ENV_DEFAULTS_KEY, default_max_displacement
    from lcvg_env.model import open_model
    from lcvg_env.outputs import check_output_file, describe_os_error
    from lcvg_env.runtime import resolve_device, set_threads

    out = out_path(out, out_arg)
    margin = parse_margin(composite_margin) if composite_margin is not None else None
    range_px = _parse_range(max_displacement, data)
    for hint, value in (("--region", region), ("--actuator", actuator)):
        if value is not None and value not in ("auto", "none"):
            raise typer.BadParameter(f"must be 'auto' or 'none', got {value!r}.", param_hint=hint)
        if value == "auto" and data is None:
            raise typer.BadParameter(
                "'auto' measures it on a dataset: pass --data DATA_DIR.", param_hint=hint
            )
    if correction_strength is not None and not 0.0 < correction_strength <= 1.0:
        raise typer.BadParameter(
            f"must be in (0, 1], got {correction_strength:g}; to turn the correction off pass "
            "--correction-passes 0.",
            param_hint="--correction-strength",
        )
    try:  # before the source is loaded and --max-displacement auto measures the data
        check_output_file(out, "OUT", overwrite=overwrite, example="model.safetensors", suffix=".safetensors")
        set_threads(threads)
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    try:
        ckpt = open_model(source, device=resolve_device(device))
        path = ckpt.path
        meta = read_metadata(path)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    given = {
        "correction_passes": correction_passes,
        "subpixel": subpixel,
        "correction_strength": correction_strength,
        "correction_timing": correction_timing,
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if composite_margin is not None:  # 'none' gives None: the composite off
        changes["composite_margin"] = margin
    try:  # all at once: the settings are checked together (a 'next' timing needs sub-pixel moves)
        cfg = dataclasses.replace(ckpt.config, **changes)
    except ValueError as exc:
        typer.echo(f"Error: {exc} Change the options of `lcvg checkpoint bundle` to fit.", err=True)
        raise typer.Exit(code=1) from exc
    ckpt.generator.cfg = cfg
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    extra = dict(ckpt.extra)
    clips = None  # --data's split, decoded once for --max-displacement auto and --region auto
    if range_px == "auto" or region == "auto" or actuator == "auto":
        from lcvg_env.control.control_range import split_clips

        try:
            clips = split_clips(ckpt, data, split)
        except (FileNotFoundError, ValueError) as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
    if players is None:  # the foregrounds --max-displacement auto and --region auto measure each
        trained = ckpt.extra.get("train_config") or {}
        players = int(trained.get("players", 1)) if isinstance(trained, dict) else 1
    if range_px == "auto":
        from lcvg_env.control.control_range import control_range_of_split, env_defaults

        try:
            measured = control_range_of_split(ckpt, data, split, players=players, clips=clips)
        except (FileNotFoundError, ValueError) as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
        typer.echo(f"controls fitted on {measured.source}: {json.dumps(measured.to_json())}")
        extra[ENV_DEFAULTS_KEY] = env_defaults(measured)
    elif range_px == "none":
        extra.pop(ENV_DEFAULTS_KEY, None)
    elif range_px is not None:  # chosen by hand; a range measured before stays on record beside it
        measured = (extra.get(ENV_DEFAULTS_KEY) or {}).get("control_range")
        extra[ENV_DEFAULTS_KEY] = {"max_displacement": range_px, "control_range": measured}
    if region == "auto":
        from lcvg_env.control.region import REGION_KEY, region_of_split

        try:
            measured_region = region_of_split(ckpt, data, split, clips=clips, players=players)
        except (FileNotFoundError, ValueError) as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
        extra[REGION_KEY] = measured_region.to_json()
        cells = f"{int(measured_region.visited.sum())} of {measured_region.visited.size}"
        typer.echo(
            f"motion region of M's centroids on {measured_region.source}: {cells} cells of "
            f"{measured_region.cell} px"
        )
    elif region == "none":
        from lcvg_env.control.region import REGION_KEY

        extra.pop(REGION_KEY, None)
    if actuator is not None:
        from lcvg_env.control.actuation import ACTUATOR_KEY, actuator_of_split

        extra.pop(ACTUATOR_KEY, None)
    if actuator == "auto":
        try:
            fitted = actuator_of_split(ckpt, data, split, taps=actuator_taps, clips=clips)
        except (FileNotFoundError, ValueError) as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
        extra[ACTUATOR_KEY] = fitted.to_json()
        typer.echo(
            f"arm response fitted on {fitted.source}: taps x {fitted.taps[0].round(3).tolist()}, "
            f"y {fitted.taps[1].round(3).tolist()} (fitted sums {fitted.fitted_sum[0]:.3f}, "
            f"{fitted.fitted_sum[1]:.3f}; R^2 {fitted.r2[0]:.3f}, {fitted.r2[1]:.3f}); region of steered "
            f"points {int(fitted.region.visited.sum())} of {fitted.region.visited.size} cells"
        )
    extra["bundled_from"] = {
        "file": path.name,
        "sha256": digest,
        "step": ckpt.step,
        "created": meta.get("created"),
    }
    if isinstance(ckpt.extra.get("bundled_from"), dict):  # a bundle of a bundle keeps the chain to the run
        extra["bundled_from"]["previous"] = ckpt.extra["bundled_from"]
    try:  # written aside, then renamed: a full disk leaves OUT as it was
        written = save_checkpoint(
            out,
            ckpt.generator.cpu(),
            control_mode=ckpt.control_mode,
            start_frames=ckpt.start_frames,
            preset=ckpt.preset,
            step=ckpt.step,
            extra=extra,
            half=half,
        )
    except OSError as exc:
        typer.echo(f"Error: OUT {out}: could not write it ({describe_os_error(exc)}).", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(
        f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB, {'fp16' if half else 'fp32'} weights, "
        f"{'composite off' if cfg.composite_margin is None else f'composite margin {cfg.composite_margin}'}, "
        f"{cfg.correction_passes} correction passes "
        f"(strength {cfg.correction_strength:g}, timing {cfg.correction_timing}), "
        f"sub-pixel moves {'on' if cfg.subpixel else 'off'}, "
        f"max_displacement {default_max_displacement(extra):g} px) "
        f"from {path} (step {ckpt.step})"
    )


def _parse_range(text: str | None, data: Path | None) -> float | str | None:
    """--max-displacement: None (keep), 'auto' (needs --data), 'none', or pixels > 0."""
    if text is None:
        return None
    word = text.strip().lower()
    if word == "auto":
        if data is None:
            raise typer.BadParameter("'auto' measures the range on a dataset: pass --data DATA_DIR.")
        return word
    if word == "none":
        return word
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"expected 'auto', 'none' or pixels > 0, got {text!r}.")
    return value
