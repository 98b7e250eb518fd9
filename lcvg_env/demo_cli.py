"""``lcvg demo``: the command of :mod:`lcvg_env.demo`, kept apart so that building the CLI imports
neither numpy nor torch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from lcvg_env.cli_options import DEVICE_DEFAULT, THREADS_DEFAULT, Device, Threads


def demo(
    checkpoint: Annotated[
        str, typer.Option("--checkpoint", "-c", metavar="MODEL", help="Model name or checkpoint file.")
    ] = "pusher",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("lcvg-demo"),
    steps: Annotated[int, typer.Option(help="Steps per policy.")] = 48,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
) -> None:
    """Run the bundled Pusher model under a square controller and a random policy; write demo.mp4."""
    from rich.console import Console

    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.demo import DemoConfig, run_demo
    from lcvg_env.env.resolve import CheckpointNotFoundError

    console = Console()
    start = time.perf_counter()
    try:
        result = run_demo(DemoConfig(checkpoint, out, steps=steps, seed=seed, threads=threads, device=device))
    except (CheckpointNotFoundError, CheckpointError, ValueError, OSError) as e:
        typer.echo(f"Error: {e}", err=True)  # one line on stderr, as every command reports bad input
        raise typer.Exit(1) from e
    console.print(f"model      {result['checkpoint']}")
    console.print(f"video      {result['video']}  (left: generated frame, right: foreground mask)")
    console.print(f"strip      {result['strip']}  (top: square controller, bottom: random policy)")
    console.print(
        f"env speed  {result['square_steps_per_s']:.0f} steps/s (square), "
        f"{result['random_steps_per_s']:.0f} steps/s (random); "
        f"{result['steps']} steps, {time.perf_counter() - start:.1f} s in all"
    )
