"""``lcvg env-realism MODEL REAL_DIR``: the command of :mod:`lcvg_env.env_realism`.

Kept apart from the measure (docs/fidelity_measures.md) so that building the CLI imports neither numpy
nor torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lcvg_env.cli_options import (
    DEVICE_DEFAULT,
    THREADS_DEFAULT,
    Actuation,
    Device,
    JsonOut,
    Model,
    Region,
    Threads,
)


def env_realism(
    checkpoint: Model,
    real_dir: Annotated[Path, typer.Argument(help="Real dataset root; frames of its split are compared.")],
    reference: Annotated[
        Path | None,
        typer.Option(help="A second, disjoint real dataset: the real-vs-real row at the same size."),
    ] = None,
    rollouts: Annotated[int, typer.Option(help="Random-policy env rollouts.")] = 40,
    steps: Annotated[int, typer.Option(help="Steps per rollout (frames = rollouts x steps).")] = 30,
    split: Annotated[str, typer.Option(help="Split of the real datasets.")] = "test",
    seed: Annotated[int, typer.Option(help="Seed of resets, actions and the draw of real frames.")] = 0,
    kid_subsets: Annotated[int, typer.Option(help="KID subsets.")] = 100,
    kid_subset_size: Annotated[int, typer.Option(help="KID subset size (capped by the frames).")] = 1000,
    region: Region = "none",
    actuation: Actuation = "direct",
    json_out: JsonOut = None,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
) -> None:
    """Score the env's frames (random-policy rollouts) against real frames: KID and FID at one size,
    beside the same distances between two real datasets."""
    from rich.console import Console

    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.env_realism import EnvRealismConfig, measure, render_table
    from lcvg_env.metrics.kid import KIDConfig
    from lcvg_env.model import model_path
    from lcvg_env.outputs import check_output_file, write_figures
    from lcvg_env.runtime import resolve_device, set_threads

    try:  # options and the output path checked before the rollouts start
        set_threads(threads)
        if json_out is not None:
            check_output_file(json_out, "--json")
        device = resolve_device(device)
        kid_cfg = KIDConfig(num_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        cfg = EnvRealismConfig(
            rollouts=rollouts,
            steps=steps,
            split=split,
            seed=seed,
            kid=kid_cfg,
            device=device,
            region=region,
            actuation=actuation,
        )
        model_path(checkpoint)  # says which file the env will load
        result = measure(checkpoint, real_dir, reference, cfg)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    console = Console(width=max(Console().width, 140))
    console.print(render_table(result))
    if reference is None:
        console.print("no --reference: the real-vs-real row is missing", highlight=False)
    write_figures(json_out, result.to_json())
