"""``lcvg control-gain MODEL DATA_DIR``: the command of :mod:`lcvg_env.control_gain`.

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
    Detector,
    Device,
    JsonOut,
    Model,
    NEnvs,
    Threads,
)


def control_gain(
    checkpoint: Model,
    data_dir: Annotated[Path, typer.Argument(help="Dataset root; frame 0 of its episodes are the starts.")],
    detector: Detector = "pusher",
    players: Annotated[
        int,
        typer.Option(
            help="2: two players, each with its own command, located by colour (Atari Tennis data; "
            "lcvg_env/control_gain_players.py); --detector does not apply."
        ),
    ] = 1,
    starts: Annotated[int, typer.Option(help="Real start frames (episodes of the split).")] = 48,
    split: Annotated[str, typer.Option(help="Dataset split of the start frames.")] = "test",
    n_envs: NEnvs = 96,
    reach_split: Annotated[
        str,
        typer.Option(
            help="--players 2: the split whose true player positions say where the game lets players go; "
            "the gains are also given over the commands that end there. 'none': skip.",
        ),
    ] = "train",
    region: Annotated[
        str | None,
        typer.Option(
            help="The env's region setting (docs/env.md, \"The data's region\"): none (moves never "
            "shortened) or data (the checkpoint's recorded region keeps each foreground in); default: "
            "the env's, none for one foreground and data for --players 2, as LCVG-AtariTennis-v0 runs.",
        ),
    ] = None,
    actuation: Actuation = "direct",
    json_out: JsonOut = None,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
) -> None:
    """Measure the env's control gain: constant commands in 8 directions at 25/50/100 % of the action
    range for 1, 5 and 10 steps, realized motion measured by the independent tip detector."""
    from rich.console import Console

    from lcvg_env.checkpoint import CheckpointError
    from lcvg_env.control_gain import (
        DIRECTIONS,
        ControlGainConfig,
        load_start_frames,
        load_tip_detector,
        make_batch,
        measure,
        render_tables,
    )
    from lcvg_env.model import model_path
    from lcvg_env.outputs import check_output_file, write_figures
    from lcvg_env.runtime import resolve_device, set_threads

    try:  # options and the output path checked before the measurement starts
        set_threads(threads)
        if json_out is not None:
            check_output_file(json_out, "--json")
        device = resolve_device(device)
        if players != 1:
            region = "data" if region is None else region
            reach = None if reach_split == "none" else reach_split
            _two_players(
                checkpoint, data_dir, players, starts, split, reach, n_envs, device, region, json_out
            )
            return
        cfg = ControlGainConfig(
            starts=starts,
            split=split,
            batch_size=n_envs,
            device=device,
            region="none" if region is None else region,
            actuation=actuation,
        )
        det = load_tip_detector(detector)
        rows = cfg.starts * len(DIRECTIONS) * len(cfg.fractions)
        model_path(checkpoint)  # says which file the env will load
        batch = make_batch(checkpoint, min(cfg.batch_size, rows), cfg)
        frames = load_start_frames(data_dir, cfg.split, cfg.starts, batch.size)
        result = measure(batch, det, frames, cfg)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    from lcvg_env.metrics.detector import resolve_detector

    result.meta.update(
        checkpoint=str(checkpoint), data=str(data_dir), detector=detector, starts=cfg.starts,
        detector_file=str(resolve_detector(detector)), start_frames_with_tip=int(result.start_found.sum()),
    )  # fmt: skip
    console = Console(width=max(Console().width, 120))
    for table in render_tables(result):
        console.print(table)
    console.print(
        f"action scaling: max_displacement = {result.max_displacement:g} px per step at 100 %; the detector "
        f"found the tip in {int(result.start_found.sum())} of {len(result.start_found)} start frames",
        highlight=False,
    )
    write_figures(json_out, result.to_json())


def _two_players(
    checkpoint: str,
    data_dir: Path,
    players: int,
    starts: int,
    split: str,
    reach_split: str | None,
    n_envs: int,
    device: str,
    region: str,
    json_out: Path | None,
) -> None:
    """``--players 2``: :mod:`lcvg_env.control_gain_players`."""
    from lcvg_env.control_gain_players import TwoPlayerGainConfig, two_player_control_gain

    if players != 2:
        raise ValueError(f"--players must be 1 (one foreground, the tip detector) or 2, got {players}.")
    cfg = TwoPlayerGainConfig(
        starts=starts, split=split, batch_size=n_envs, device=device, reach_split=reach_split, region=region
    )
    two_player_control_gain(checkpoint, data_dir, cfg, json_out)
