"""``lcvg sim-to-real CHECKPOINT``: open-loop agreement of the learned simulator with the MuJoCo pusher
(:mod:`lcvg_env.sim_to_real`), printed as a table. Heavy imports (torch, MuJoCo, the model) stay inside
the command: the CLI imports this module at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lcvg_env.cli_options import (
    DEVICE_DEFAULT,
    THREADS_DEFAULT,
    Actuation,
    Detector,
    Device,
    JsonOut,
    Model,
    Region,
    Threads,
)


def sim_to_real(
    checkpoint: Model,
    starts: Annotated[int, typer.Option(help="Real start states (MuJoCo seeds seed, seed+1, ...).")] = 50,
    steps: Annotated[int, typer.Option(help="Steps of every action sequence.")] = 30,
    seed: Annotated[int, typer.Option(help="First start seed; also seeds the random walks.")] = 0,
    walks: Annotated[int, typer.Option(help="Random-walk sequences per start (beside 8 pushes).")] = 8,
    detector: Detector = "pusher",
    region: Region = "none",
    actuation: Actuation = "direct",
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    json_out: JsonOut = None,
    positions: Annotated[
        Path | None,
        typer.Option(
            "--positions",
            help="Also write every sequence's tips (learned, true, the detector's on MuJoCo's frame, "
            "at the edge) to this .npz file.",
        ),
    ] = None,
) -> None:
    """Drive the learned env and the MuJoCo env from the same real start frames with the same actions
    (smooth random walks and constant pushes); the detected learned tip vs MuJoCo's true tip."""
    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.control_gain import load_tip_detector
    from lcvg_env.model import model_path
    from lcvg_env.outputs import check_output_file, write_figures
    from lcvg_env.runtime import resolve_device, set_threads
    from lcvg_env.sim_to_real import OpenLoopConfig, measure, render

    try:  # options and the output path checked before the rollouts run
        set_threads(threads)
        if threads is not None:  # before MuJoCo's GL context exists (Mesa's CPU renderer spawns threads)
            os.environ.setdefault("LP_NUM_THREADS", str(threads))
        if json_out is not None:
            check_output_file(json_out, "--json")
        if positions is not None:
            check_output_file(positions, "--positions", example="positions.npz")
        cfg = OpenLoopConfig(
            starts,
            steps,
            seed,
            walks,
            detector=detector,
            device=resolve_device(device),
            region=region,
            actuation=actuation,
            **({} if threads is None else {"threads": threads}),  # default: the single env's 1
        )
        model_path(checkpoint)  # says which file the env will load
        result = measure(checkpoint, cfg, load_tip_detector(detector))
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    for line in render(result):
        typer.echo(line)
    write_figures(json_out, result.to_json())
    if positions is not None:
        try:
            typer.echo(f"positions written to {result.save_positions(positions)}")
        except OSError as exc:
            typer.echo(f"Error: --positions {positions}: {exc}", err=True)
            raise typer.Exit(code=1) from exc
