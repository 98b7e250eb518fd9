"""``lcvg evaluate MODEL DATA_DIR``: the docs/method.md section 6 protocol, printed as a table.

Writes the scores as JSON with ``--json FILE`` and a real-vs-generated strip (PNG + mp4) of the first
test episode with ``--out DIR``. Heavy imports stay inside the command (the CLI imports this
module at start-up).
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lcvg_env.cli_options import DEVICE_DEFAULT, THREADS_DEFAULT, Device, JsonOut, Model, Threads

if TYPE_CHECKING:
    import numpy as np

    from lcvg_env.evaluation.video import EvalResult

# (key, label, direction): the table's rows in order; direction says which way is better. Labels with
# {...} are filled from the row (sample sizes). "M" rows are the model judged by its own mask network.
METRIC_ROWS = [
    ("psnr", "PSNR (dB)", "↑"),
    ("ssim", "SSIM", "↑"),
    ("lpips_alex", "LPIPS AlexNet", "↓"),
    ("lpips_vgg", "LPIPS VGG", "↓"),
    ("fid", "FID ({frames} frames)", "↓"),
    ("kid", "KID ({kid_subset_size}-frame subsets)", "↓"),
    ("fvd", "FVD ({fvd_clips} clips x {fvd_clip_frames} frames)", "↓"),
    ("detection_distance_px", "detection distance, mean (px)", "↓"),
    ("detection_distance_final_px", "detection distance, last step (px)", "↓"),
    ("detection_missing_rate", "tip missing (detector)", "↓"),
    ("tip_error_px", "tip error vs true tip (px)", "↓"),
    ("displacement_error_px", "displacement error vs true tip (px)", "↓"),
    ("m_centroid_distance_px", "M-centroid distance (model's own M, px)", "↓"),
    ("m_missing_rate", "foreground missing (model's own M)", "↓"),
    ("player_error_px", "players vs true players_px (colour locator, px)", "↓"),
    ("player_missing_rate", "player missing (colour locator)", "↓"),
    ("m_iou_generated", "IoU of M(generated) with true foreground", "↑"),
]
STRIP_GAP = 2
"""Pixels between frames in the PNG strip."""


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return str(value)


def _label(template: str, row: dict[str, Any]) -> str:
    """The row's label with its sample sizes filled in; without them (a skipped metric: None) the label
    alone, as "KID" rather than "KID (None-frame subsets)"."""
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(row.get(name) is None for name in fields):
        return template.split(" (", 1)[0]
    return template.format(**row)


def render_table(result: EvalResult) -> Any:
    """A rich Table: one line per metric, one column per row of the result."""
    from rich.markup import escape
    from rich.table import Table

    meta = result.meta
    title = escape(f"lcvg evaluate: {Path(meta['checkpoint']).name} on {meta['data']} ({meta['split']})")
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("")
    for name in result.rows:
        table.add_column(name.replace("_", " "), justify="right")
    model = result.rows["model"]
    for key, label, direction in METRIC_ROWS:
        table.add_row(_label(label, model), direction, *(_fmt(row.get(key)) for row in result.rows.values()))
    for key in ("frames", "episodes", "seconds"):
        table.add_row(key, "", *(_fmt(row[key]) for row in result.rows.values()))
    return table


def render_steps(result: EvalResult) -> Any:
    """Detection distance per generated step (mean over episodes), one column per row; None without a
    detector."""
    from rich.table import Table

    steps = {name: row.get("detection_distance_per_step_px") for name, row in result.rows.items()}
    if not all(steps.values()):
        return None
    table = Table(title="detection distance per step (px, mean over episodes)")
    table.add_column("step", justify="right")
    for name in steps:
        table.add_column(name.replace("_", " "), justify="right")
    for t in range(len(next(iter(steps.values())))):
        table.add_row(str(t + 1), *(_fmt(v[t]) for v in steps.values()))
    return table


def ground_truth_lines(result: EvalResult) -> list[str]:
    """The instruments' own quality on the real frames: M against the true arm, the detector against
    the true tip."""
    lines = []
    m = result.meta.get("mask_net_real") or {}
    if m.get("iou") is not None:
        lines.append(
            f"mask network M on real frames vs true foreground: IoU {_fmt(m['iou'])}, "
            f"precision {_fmt(m['precision'])}, recall {_fmt(m['recall'])}"
        )
    floor = result.meta.get("detector_floor_real") or {}
    if floor.get("median_px") is not None:
        lines.append(
            f"detector on real frames vs true tip (its floor): median {_fmt(floor['median_px'])} px, "
            f"p90 {_fmt(floor['p90_px'])} px, missed {_fmt(floor['missed_rate'])}"
        )
    from lcvg_env.evaluation.players import floor_line

    players = floor_line(result.meta, _fmt)
    if players:
        lines.append(players)
    controlled = result.meta.get("players_controlled") or 1
    if controlled > 1:
        lines.append(
            f"driven per player: {controlled} foregrounds of M's masks, each moved by its own fitted control "
            "(--players 1: one control for the whole mask)"
        )
    return lines


def _upscale(frames: np.ndarray, min_side: int = 128) -> np.ndarray:
    """Nearest-neighbour upscaling of (T, H, W, 3) by an integer factor so that min(H, W) >= min_side."""

    k = max(1, math.ceil(min_side / min(frames.shape[1:3])))
    return frames.repeat(k, axis=1).repeat(k, axis=2)


def save_strip(strip: dict[str, np.ndarray], out_dir: Path, fps: int = 4) -> list[Path]:
    """``strip.png`` (top: real frames, bottom: generated) and ``real_vs_generated.mp4`` (side by side)."""
    import numpy as np
    from PIL import Image

    from lcvg_env.atomic import atomic_path
    from lcvg_env.env.render import write_video

    out_dir.mkdir(parents=True, exist_ok=True)
    real, gen = _upscale(strip["real"]), _upscale(strip["model"])
    t, h, w, _ = real.shape
    canvas = np.full((2 * h + STRIP_GAP, t * (w + STRIP_GAP) - STRIP_GAP, 3), 255, np.uint8)
    for i in range(t):
        x = i * (w + STRIP_GAP)
        canvas[:h, x : x + w], canvas[h + STRIP_GAP :, x : x + w] = real[i], gen[i]
    png = out_dir / "strip.png"
    with atomic_path(png, suffix=".png") as tmp:  # an earlier strip stays whole until this one is
        Image.fromarray(canvas).save(tmp)
    pairs = np.concatenate([real, np.full((t, h, STRIP_GAP, 3), 255, np.uint8), gen], axis=2)
    pairs = pairs[:, : pairs.shape[1] // 2 * 2, : pairs.shape[2] // 2 * 2]  # even sizes for yuv420p
    return [png, write_video(list(pairs), out_dir / "real_vs_generated.mp4", fps=fps)]


def evaluate(
    checkpoint: Model,
    data_dir: Annotated[Path, typer.Argument(help="Dataset root; its --split (test) is evaluated.")],
    json_out: JsonOut = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write strip.png and real_vs_generated.mp4 to this folder."),
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames per episode: 1 real + (frames - 1) generated.")] = 16,
    episodes: Annotated[
        int | None, typer.Option(help="Evaluate at most this many episodes (default: all).")
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    skip: Annotated[
        list[str] | None,
        typer.Option(
            help="Skip a weight-based metric: lpips_alex, lpips_vgg, fid (and with it KID: both read the "
            "Inception features), fvd."
        ),
    ] = None,
    solver: Annotated[
        str, typer.Option(help="Control fitting solver: fast, reference (the paper's) or brute (exhaustive).")
    ] = "fast",
    detector: Annotated[
        str,
        typer.Option(
            help="Tip detector for the detection distance: auto (the pusher detector where the data has "
            "tip_px annotations), none, pusher, or a detector .safetensors file."
        ),
    ] = "auto",
    players: Annotated[
        int | None,
        typer.Option(
            help="Foregrounds moved by their own fitted controls: 1 moves the whole mask by one control "
            "(the paper's protocol); default: the data's count of true players (players_px, 2 on Atari "
            "Tennis), else 1."
        ),
    ] = None,
    device: Device = DEVICE_DEFAULT,
    threads: Threads = THREADS_DEFAULT,
    out_dir_alias: Annotated[Path | None, typer.Option("--out-dir", hidden=True)] = None,
) -> None:
    """Score a checkpoint on a test split against the real video (docs/method.md section 6).

    Generates each episode from its first real frame, driven by the controls fitted between consecutive
    real masks; reports PSNR, SSIM, LPIPS, FID, KID, FVD, the detection distance of an independent
    tip detector, errors against the true tip and M's quality against the true arm (where the data has
    them), for the model and for the copy-first-frame baseline.
    """
    from rich.console import Console
    from rich.markup import escape

    from lcvg_env.cli_options import deprecated
    from lcvg_env.evaluation.video import EvalConfig
    from lcvg_env.evaluation.video import evaluate as run_evaluation
    from lcvg_env.outputs import check_output_dir, check_output_file, write_text
    from lcvg_env.runtime import resolve_device, set_threads

    if out_dir_alias is not None:
        deprecated("--out-dir", "--out")
        out_dir = out_dir or out_dir_alias
    try:  # every option and output path checked before the evaluation starts
        set_threads(threads)
        if json_out is not None:
            check_output_file(json_out, "--json")
        if out_dir is not None:
            check_output_dir(out_dir, "--out")
        cfg = EvalConfig(
            frames=frames,
            episodes=episodes,
            split=split,
            skip=tuple(skip or ()),
            solver=solver,
            detector=detector,
            players=players,
            device=resolve_device(device),
        )
        result = run_evaluation(checkpoint, data_dir, cfg)
    except (ValueError, OSError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    scored = result.meta.get("frames_per_episode")
    if scored is not None and scored < frames:  # the shortest episode sets how many frames every row scores
        typer.echo(
            f"Warning: --frames {frames}, but the shortest episode scored has {scored} frames: every row is "
            f"scored on the first {scored} frames of each episode.",
            err=True,
        )
    console = Console()
    console.print(render_table(result))
    steps = render_steps(result)
    if steps is not None:
        console.print(steps)
    for line in ground_truth_lines(result):
        console.print(escape(line), highlight=False)
    for key, reason in result.unavailable.items():
        console.print(f"[yellow]{key}[/yellow]: {escape(reason)}", highlight=False)
    try:
        if json_out is not None:
            write_text(json_out, json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n")
            console.print(f"scores written to {json_out}", highlight=False)
        if out_dir is not None:
            paths = save_strip(result.strip, out_dir)
            console.print(f"strip written to {', '.join(str(p) for p in paths)}", highlight=False)
    except (ValueError, OSError) as exc:  # a disk that filled up during the evaluation
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
