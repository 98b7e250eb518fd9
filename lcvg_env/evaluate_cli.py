"""``lcvg evaluate CHECKPOINT DATA_DIR``: the METHOD.md section 6 protocol, printed as a table.

Writes the scores as JSON with ``--json OUT`` and a real-vs-generated strip (PNG + mp4) of the first
test episode with ``--out-dir DIR``. Heavy imports stay inside the command (the CLI imports this
module at start-up).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

if TYPE_CHECKING:
    from lcvg_env.evaluate import EvalResult

# (key, label, direction): the table's rows in order; direction says which way is better.
METRIC_ROWS = [
    ("psnr", "PSNR (dB)", "↑"),
    ("ssim", "SSIM", "↑"),
    ("lpips_alex", "LPIPS AlexNet", "↓"),
    ("lpips_vgg", "LPIPS VGG", "↓"),
    ("fid", "FID", "↓"),
    ("fvd", "FVD", "↓"),
    ("control_error_px", "control error (px)", "↓"),
    ("missing_rate", "foreground missing", "↓"),
    ("mask_iou", "mask IoU vs ground truth", "↑"),
]
STRIP_GAP = 2
"""Pixels between frames in the PNG strip."""


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return str(value)


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
        table.add_column(name, justify="right")
    for key, label, direction in METRIC_ROWS:
        if key == "fid":
            label = f"FID ({result.rows['model']['frames']} frames)"
        elif key == "fvd":
            label = f"FVD ({result.rows['model']['episodes']} clips x {meta['fvd_clip_frames']} frames)"
        table.add_row(label, direction, *(_fmt(row[key]) for row in result.rows.values()))
    for key in ("frames", "episodes", "seconds"):
        table.add_row(key, "", *(_fmt(row[key]) for row in result.rows.values()))
    return table


def _upscale(frames: np.ndarray, min_side: int = 128) -> np.ndarray:
    """Nearest-neighbour upscaling of (T, H, W, 3) by an integer factor so that min(H, W) >= min_side."""
    k = max(1, math.ceil(min_side / min(frames.shape[1:3])))
    return frames.repeat(k, axis=1).repeat(k, axis=2)


def save_strip(strip: dict[str, np.ndarray], out_dir: Path, fps: int = 4) -> list[Path]:
    """``strip.png`` (top: real frames, bottom: generated) and ``real_vs_generated.mp4`` (side by side)."""
    from PIL import Image

    from lcvg_env.env.render import write_video

    out_dir.mkdir(parents=True, exist_ok=True)
    real, gen = _upscale(strip["real"]), _upscale(strip["model"])
    t, h, w, _ = real.shape
    canvas = np.full((2 * h + STRIP_GAP, t * (w + STRIP_GAP) - STRIP_GAP, 3), 255, np.uint8)
    for i in range(t):
        x = i * (w + STRIP_GAP)
        canvas[:h, x : x + w], canvas[h + STRIP_GAP :, x : x + w] = real[i], gen[i]
    png = out_dir / "strip.png"
    Image.fromarray(canvas).save(png)
    pairs = np.concatenate([real, np.full((t, h, STRIP_GAP, 3), 255, np.uint8), gen], axis=2)
    pairs = pairs[:, : pairs.shape[1] // 2 * 2, : pairs.shape[2] // 2 * 2]  # even sizes for yuv420p
    return [png, write_video(list(pairs), out_dir / "real_vs_generated.mp4", fps=fps)]


def evaluate(
    checkpoint: Annotated[str, typer.Argument(help="Checkpoint file, or a model name (e.g. pusher).")],
    data_dir: Annotated[Path, typer.Argument(help="Dataset root; its test split is evaluated.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the scores as JSON here.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Write strip.png and real_vs_generated.mp4 here.")
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames per episode: 1 real + (frames - 1) generated.")] = 16,
    episodes: Annotated[int | None, typer.Option(help="Evaluate at most this many episodes.")] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    skip: Annotated[
        list[str] | None, typer.Option(help="Skip a weight-based metric: lpips_alex, lpips_vgg, fid, fvd.")
    ] = None,
    solver: Annotated[str, typer.Option(help="Control fitting solver: fast or reference.")] = "fast",
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
) -> None:
    """Score a checkpoint on a test split against the real video (METHOD.md section 6).

    Generates each episode from its first real frame, driven by the controls fitted between consecutive
    real masks; reports PSNR, SSIM, LPIPS, FID, FVD, control error, missing foreground and mask IoU,
    for the model and for the copy-last-frame baseline.
    """
    from rich.console import Console
    from rich.markup import escape

    from lcvg_env.evaluate import EvalConfig
    from lcvg_env.evaluate import evaluate as run_evaluation

    try:
        cfg = EvalConfig(
            frames=frames,
            episodes=episodes,
            split=split,
            skip=tuple(skip or ()),
            solver=solver,
            device=device,
        )
        result = run_evaluation(checkpoint, data_dir, cfg)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    console = Console()
    console.print(render_table(result))
    for key, reason in result.unavailable.items():
        console.print(f"[yellow]{key}[/yellow]: {escape(reason)}", highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n")
        console.print(f"scores written to {json_out}", highlight=False)
    if out_dir is not None:
        paths = save_strip(result.strip, out_dir)
        console.print(f"strip written to {', '.join(str(p) for p in paths)}", highlight=False)
