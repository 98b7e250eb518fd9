"""``lcvg reach-check CHECKPOINT``: scripted reach judged by the independent tip detector
(:mod:`lcvg_env.reach_check`), printed as text. Heavy imports (torch, the model) stay inside the command:
the CLI imports this module at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lcvg_env.cli_options import DEVICE_DEFAULT, THREADS_DEFAULT, Detector, Device, JsonOut, Model, Threads


def reach_check(
    checkpoint: Model,
    episodes: Annotated[int, typer.Option(help="Episodes, stepped together as one vector env.")] = 50,
    max_steps: Annotated[
        int | None, typer.Option(help="Horizon; default: LCVG-Pusher-v0's max_episode_steps (100).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the env's reset (start frames and goals).")] = 0,
    detector: Detector = "pusher",
    data: Annotated[
        Path | None, typer.Option(help="Dataset root: also check the goals against its tip_px.")
    ] = None,
    split: Annotated[str, typer.Option(help="Split of --data whose tips are read.")] = "train",
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    json_out: JsonOut = None,
) -> None:
    """Scripted reach in the env, steered and judged by the independent tip detector on the clean generated
    frame; the env's own criterion (M's centroid) is reported beside it."""
    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.control_gain import load_tip_detector
    from lcvg_env.model import model_path
    from lcvg_env.outputs import check_output_file, write_figures
    from lcvg_env.reach_check import PUSHER_MAX_STEPS, ReachCheckConfig, measure, render
    from lcvg_env.runtime import resolve_device, set_threads

    try:  # options and the output path checked before the episodes run
        set_threads(threads)
        if json_out is not None:
            check_output_file(json_out, "--json")
        steps = PUSHER_MAX_STEPS if max_steps is None else max_steps
        cfg = ReachCheckConfig(episodes, steps, seed, detector, resolve_device(device))
        model_path(checkpoint)  # says which file the env will load
        result = measure(checkpoint, cfg, load_tip_detector(detector), data, split)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    for line in render(result):
        typer.echo(line)
    write_figures(json_out, result.to_json())
