"""``lcvg mimic MODEL DRIVING_VIDEO``: the command of :mod:`lcvg_env.export.mimic`, kept apart so that
building the CLI imports neither numpy nor torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lcvg_env.cli_options import DEVICE_DEFAULT, THREADS_DEFAULT, Device, Model, Threads


def mimic_command(
    checkpoint: Model,
    driving_video: Annotated[
        Path, typer.Argument(help="Driving video: a video file, a folder of frames or a dataset.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output mp4: driving | generated, side by side.")
    ] = Path("mimic.mp4"),
    start_frame: Annotated[
        Path | None, typer.Option(help="Start frame image (default: the checkpoint's first start frame).")
    ] = None,
    episode: Annotated[int, typer.Option(help="Which episode when DRIVING_VIDEO holds several.")] = 0,
    max_frames: Annotated[
        int | None, typer.Option(min=2, help="Use at most this many driving frames, >= 2 (default: all).")
    ] = None,
    fps: Annotated[float, typer.Option(help="Frames per second of the mp4.")] = 8.0,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
) -> None:
    """Action mimicking: replay the mask motion of a driving video from another start frame (mp4)."""
    import numpy as np

    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.env.cli import check_rates, check_video_path
    from lcvg_env.env.render import auto_scale, write_video
    from lcvg_env.export.mimic import load_image, mimic
    from lcvg_env.model import open_model
    from lcvg_env.runtime import check_threads, resolve_device, torch_threads

    try:  # the options and the output path first: nothing is fitted for a video that cannot be written
        check_video_path(out, "--out")
        check_rates(fps, None)
        check_threads(threads)
        ckpt = open_model(checkpoint, device=resolve_device(device))
        start = None if start_frame is None else load_image(start_frame, ckpt.size)
        with torch_threads(threads):
            result = mimic(ckpt, driving_video, start, episode=episode, max_frames=max_frames)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        raise typer.BadParameter(str(e)) from e
    panels = result.side_by_side()
    try:
        write_video(list(panels), out, fps=fps, scale=auto_scale(panels.shape[1:3], 512))
    except ValueError as e:  # the disk filled up while the video was written
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(code=1) from e
    typer.echo(
        f"Wrote {out}: {len(panels)} frames, {ckpt.control_mode} controls, "
        f"mean |control| {np.abs(result.controls_px).mean():.2f}, mean fit loss {result.fit_loss.mean():.4f}."
    )
