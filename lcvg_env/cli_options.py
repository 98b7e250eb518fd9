"""The options every ``lcvg`` command spells the same way (docs/cli.md has the table).

A command that takes a model, computes with torch, runs several envs, shows progress or chooses a
numeric precision declares the option with the type below, so the name, the help and the default are
the same everywhere. Light on purpose (typer only): the CLI imports this module at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

MODEL_HELP = (
    "A model name (pusher, pusher_tiny, atari_tennis, or one installed with --install-as) or a checkpoint "
    "file; "
    "`lcvg checkpoint info MODEL` says which file a name loads."
)

Model = Annotated[str, typer.Argument(metavar="MODEL", help=MODEL_HELP, show_default=False)]
"""The world model a command works on, opened by :func:`lcvg_env.model.open_model`."""

EnvCheckpoint = Annotated[
    str | None,
    typer.Option(
        "--checkpoint",
        "-c",
        metavar="MODEL",
        help="The env's world model, a name or a checkpoint file (default: the id's model, LCVG-Pusher-v0: "
        "pusher).",
        show_default=False,
    ),
]
"""The world model of a command that makes an env from an id (``checkpoint=`` of the env)."""


def with_checkpoint(env_kwargs: dict, checkpoint: str | None) -> dict:
    """``env_kwargs`` with ``--checkpoint`` as its ``checkpoint`` (an ``--env-kwargs checkpoint=`` that names
    another model is a ``ValueError``)."""
    if checkpoint is None:
        return env_kwargs
    given = env_kwargs.get("checkpoint")
    if given is not None and os.path.abspath(str(given)) != os.path.abspath(checkpoint):
        raise ValueError(
            f"--checkpoint {checkpoint} and --env-kwargs checkpoint={given} name two models; pass one."
        )
    return {**env_kwargs, "checkpoint": checkpoint}


Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="Torch CPU threads (default: torch's own; a single env steps on 1). 1 holds up best on a CPU "
        "shared with other jobs.",
        show_default=False,
    ),
]
THREADS_DEFAULT: int | None = None

Device = Annotated[
    str,
    typer.Option("--device", help="Torch device: auto (cuda, then mps, else cpu), cpu, cuda, cuda:N or mps."),
]
DEVICE_DEFAULT = "auto"

NEnvs = Annotated[int, typer.Option("--n-envs", help="Environments stepped together in one batch.")]

Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]

PRECISIONS = ("bf16", "fp32", "fp16")
"""The numeric precisions of the env's generator (``--precision``); training adds its own (docs/cli.md)."""

Precision = Annotated[
    str, typer.Option("--precision", help="Generator precision: bf16 (fastest on CPU), fp32 or fp16.")
]

JsonOut = Annotated[
    Path | None,
    typer.Option("--json", help="Write the figures as JSON to this file.", show_default=False),
]

Region = Annotated[
    str,
    typer.Option(
        help="The env's region setting (docs/env.md, \"The data's region\"): none (moves never shortened) or "
        "data (the checkpoint's recorded region of its training video keeps the foreground in)."
    ),
]
"""``EnvConfig.region`` of the measuring commands' envs; default ``"none"``, the env's."""

Actuation = Annotated[
    str,
    typer.Option(
        help="The env's actuation (docs/env.md, \"The arm's response\"): direct (the mask moves by the whole "
        "command) or data (commands arrive over steps: the checkpoint's recorded response of the data's arm)."
    ),
]
"""``EnvConfig.actuation`` of the measuring commands' envs; default ``"direct"``, the env's."""

Detector = Annotated[str, typer.Option(help="Tip detector: pusher (packaged) or a detector file.")]
"""The independent tip detector of the measuring commands (docs/detector.md); default ``"pusher"``."""

OutArgAlias = Annotated[Path | None, typer.Argument(hidden=True, show_default=False)]
"""The output folder where older versions took it as a positional argument (deprecated: ``--out``)."""

QuietAlias = Annotated[bool, typer.Option("--quiet", hidden=True)]
"""Deprecated spelling of ``--no-progress``."""

NumEnvsAlias = Annotated[int | None, typer.Option("--num-envs", hidden=True, show_default=False)]
"""Deprecated spelling of ``--n-envs``."""

DtypeAlias = Annotated[str | None, typer.Option("--dtype", hidden=True, show_default=False)]
"""Deprecated: ``--dtype bfloat16|float32|float16``, now ``--precision bf16|fp32|fp16``."""

OVERWRITE_HELP = "Replace what is already there (default: refuse, or resume where the command can)."


def env_dtype(precision: str, option: str = "--precision") -> str:
    """The env's ``dtype`` (``EnvConfig.dtype``) for a ``--precision`` value; ``ValueError`` otherwise."""
    table = {"bf16": "bfloat16", "fp32": "float32", "fp16": "float16"}
    if precision not in table:
        raise ValueError(f"{option} {precision!r}: use one of {', '.join(PRECISIONS)}.")
    return table[precision]


def deprecated(old: str, new: str) -> None:
    """Say on stderr that an old option spelling was used, and the one to use."""
    typer.echo(f"Note: {old} is deprecated; use {new} (docs/cli.md).", err=True)


def out_path(option: Path | None, positional: Path | None) -> Path:
    """``--out``, or the deprecated positional OUT; one of them is required."""
    if positional is not None:
        deprecated("a positional OUT", "--out OUT")
    out = option or positional
    if out is None:
        raise typer.BadParameter("pass the output folder as --out OUT.", param_hint="--out")
    return out
