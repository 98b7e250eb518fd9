"""``lcvg budget CHECKPOINT DATA_DIR``: the world model's error budget (:mod:`lcvg_env.fidelity_budget`),
printed as a table. Heavy imports (torch, the model) stay inside the command: the CLI imports this
module at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lcvg_env.cli_options import DEVICE_DEFAULT, THREADS_DEFAULT, Detector, Device, JsonOut, Model, Threads


def budget(
    checkpoint: Model,
    data_dir: Annotated[Path, typer.Argument(help="Dataset root with tip_px / arm_mask annotations.")],
    episodes: Annotated[
        int | None, typer.Option(help="Measure at most this many episodes (default: all).")
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames per episode: x^0 + (frames - 1) predicted.")] = 17,
    detector: Detector = "pusher",
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    solver: Annotated[str, typer.Option(help="Eq. 5 solver of the fitted controls.")] = "fast",
    data_stats: Annotated[
        bool, typer.Option("--data-stats", help="Only print the split's per-step true tip displacement.")
    ] = False,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    json_out: JsonOut = None,
) -> None:
    """Error budget of a world model: autoencode / true next mask / fitted control / rollout vs copying."""
    from rich.console import Console
    from rich.markup import escape

    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.fidelity_budget import BudgetConfig, fmt, measure, render, tip_motion_stats
    from lcvg_env.outputs import check_output_file, write_figures
    from lcvg_env.runtime import resolve_device, set_threads

    console = Console(width=max(Console().width, 150))
    try:  # options and the output path checked before the measurement starts
        set_threads(threads)
        if json_out is not None:
            check_output_file(json_out, "--json")
        if data_stats:
            from lcvg_env.checkpoint import read_metadata
            from lcvg_env.control.control_range import default_max_displacement
            from lcvg_env.env.resolve import resolve_checkpoint

            meta = read_metadata(resolve_checkpoint(checkpoint))
            size = (meta["height"], meta["width"])
            max_disp = default_max_displacement(meta.get("extra"))
            out: dict[str, Any] = tip_motion_stats(data_dir, split, size, max_disp)
            console.print(f"true tip displacement per step at {size[0]}x{size[1]} (px):", highlight=False)
            for k, v in out.items():
                console.print(f"  {k}: {fmt(v) if isinstance(v, float) else v}", highlight=False)
        else:
            cfg = BudgetConfig(frames, episodes, split, solver, detector, device=resolve_device(device))
            result = measure(checkpoint, data_dir, cfg)
            for line in render(result):
                console.print(escape(line) if isinstance(line, str) else line, highlight=False)
            out = result.to_json()
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    write_figures(json_out, out)
