"""``lcvg detector ...``: train the gripper-tip detector and measure it on held-out data.

Mounted by ``lcvg_env/cli.py``; options as in docs/cli.md. Heavy imports (torch, mujoco) happen inside
the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lcvg_env.cli_options import DEVICE_DEFAULT, THREADS_DEFAULT, Device, JsonOut, Threads, deprecated

app = typer.Typer(
    help="The gripper-tip detector (detection distance): train it, measure it against ground truth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

DataDir = Annotated[Path, typer.Argument(help="Dataset root with pusher annotations (`lcvg data pusher`).")]


@app.command()
def train(
    data_dir: DataDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="Detector file to write (.safetensors).")],
    steps: Annotated[int, typer.Option(help="Training steps (batches).")] = 1500,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle schedule).")] = 2e-3,
    eval_every: Annotated[int, typer.Option(help="Validate (and keep the best) every N steps.")] = 250,
    episodes: Annotated[
        int | None, typer.Option(help="Use only the first N training episodes (default: all).")
    ] = None,
    report: Annotated[
        list[str] | None,
        typer.Option(help="ROOT:SPLIT held-out set to measure the saved file on (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Threads = THREADS_DEFAULT,
    precision: Annotated[
        str, typer.Option(help="bf16 (autocast on the CPU; the heads stay fp32) or fp32.")
    ] = "bf16",
    device: Device = DEVICE_DEFAULT,
    bf16: Annotated[bool | None, typer.Option("--bf16/--no-bf16", hidden=True)] = None,
) -> None:
    """Train the tip detector on real frames (true tip_px and arm_mask; arm-free renders as negatives).

    DATA_DIR needs a train split (trained on) and a val split (the best weights on it are kept)."""
    from lcvg_env.atomic import is_disk_full
    from lcvg_env.metrics.detector_data import check_training_data
    from lcvg_env.metrics.detector_train import TrainArgs, main
    from lcvg_env.outputs import check_output_file, describe_os_error
    from lcvg_env.runtime import resolve_device

    if bf16 is not None:
        deprecated("--bf16/--no-bf16", "--precision bf16|fp32")
        precision = "bf16" if bf16 else "fp32"
    try:
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"--precision {precision!r}: use bf16 or fp32.")
        if episodes is not None and episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {episodes}.")
        args = TrainArgs(
            data=str(data_dir), out=str(out), steps=steps, batch_size=batch_size, lr=lr,
            eval_every=eval_every, episodes=episodes, report=tuple(report or ()), seed=seed,
            threads=threads, bf16=precision == "bf16", device=resolve_device(device),
        )  # fmt: skip
        # the output is checked before hours of training, not at the save
        check_output_file(out, "--out", example="tip_detector.safetensors", suffix=".safetensors")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        check_training_data(data_dir, episodes, args.report)  # before the arm-free renders and training
        main(args, log=typer.echo)
    except ValueError as exc:  # DataError too: the data (a file, annotations, dataset.json) is unusable
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        typer.echo(
            f"Error: --out {out}: could not write it ({describe_os_error(exc)}); a detector saved before "
            "is whole (written aside, then renamed).",
            err=True,
        )
        raise typer.Exit(code=1) from exc
    typer.echo(f"wrote {out}")


@app.command("eval")
def evaluate(
    data_dir: DataDir,
    split: Annotated[str, typer.Option(help="Split to measure on.")] = "test",
    detector: Annotated[str, typer.Option(help="Detector: 'pusher' (packaged) or a file.")] = "pusher",
    episodes: Annotated[int | None, typer.Option(help="Only the first N episodes (default: all).")] = None,
    arm_free: Annotated[
        bool,
        typer.Option(help="Render the split's states without the arm for the false-found rate (MuJoCo)."),
    ] = True,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            "-c",
            metavar="MODEL",
            help="Also report the found rate on this world model's rollouts (info): a model name or a "
            "checkpoint file.",
            show_default=False,
        ),
    ] = None,
    rollout_episodes: Annotated[
        int, typer.Option(help="Episodes of 16-frame rollouts for --checkpoint.")
    ] = 16,
    threads: Threads = THREADS_DEFAULT,
    device: Device = DEVICE_DEFAULT,
    json_out: JsonOut = None,
) -> None:
    """Measure a tip detector against ground truth: error (px), missed rate, false-found rate."""
    from lcvg_env.metrics.detector import load_detector
    from lcvg_env.metrics.detector_eval import evaluate_detector, rollout_found_rate
    from lcvg_env.outputs import check_output_file, write_text
    from lcvg_env.runtime import resolve_device, set_threads

    try:
        set_threads(threads)
        if json_out is not None:
            check_output_file(json_out, "--json")
        det = load_detector(detector, device=resolve_device(device))
        result: dict[str, Any] = evaluate_detector(det, data_dir, split, episodes=episodes, arm_free=arm_free)
        if checkpoint is not None:
            result["rollouts"] = rollout_found_rate(det, checkpoint, data_dir, split, rollout_episodes)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    result["detector"] = detector
    _print_table(result)
    if json_out is not None:
        write_text(json_out, json.dumps(result, indent=2, allow_nan=False) + "\n")
        typer.echo(f"figures written to {json_out}")


def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _print_table(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"tip detector {r['detector']} on {r['data']} ({r['split']}, {r['episodes']} episodes)"
    )
    table.add_column("frames")
    table.add_column("figure")
    table.add_column("value", justify="right")
    real = f"real ({r['frames']})"
    for key, name in (("median_px", "median error (px)"), ("p90_px", "90th pct error (px)")):
        table.add_row(real, name, _fmt(r[key]))
    table.add_row(real, "mean / max error (px)", f"{_fmt(r['mean_px'])} / {_fmt(r['max_px'])}")
    table.add_row(real, "missed rate", _fmt(r["missed_rate"], 4))
    for key, fig in r.items():
        if key.startswith("blur_"):
            blur = f"real, Gaussian blur sigma {key[5:-2]} px"
            table.add_row(
                blur, "median / 90th pct error (px)", f"{_fmt(fig['median_px'])} / {_fmt(fig['p90_px'])}"
            )
            table.add_row(blur, "missed rate", _fmt(fig["missed_rate"], 4))
    if "false_found_rate" in r:
        table.add_row(
            f"arm-free ({r['arm_free_frames']})", "false-found rate", _fmt(r["false_found_rate"], 4)
        )
        table.add_row(
            f"arm-free ({r['arm_free_frames']})", "highest presence score", _fmt(r["arm_free_max_score"])
        )
    if "gripper_removed_false_found_rate" in r:
        label = f"gripper removed ({r['arm_free_frames']})"
        table.add_row(label, "false-found rate", _fmt(r["gripper_removed_false_found_rate"], 4))
    if "rollouts" in r:
        g = r["rollouts"]
        label = f"generated by {g['checkpoint']} ({g['generated_frames']}, info)"
        table.add_row(label, "found rate", _fmt(g["found_rate"], 4))
        table.add_row(label, "median distance to the true tip (px)", _fmt(g["median_px_to_true_tip"], 2))
    Console().print(table)
