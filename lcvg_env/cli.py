"""The ``lcvg`` command line: one typer app, the front door of the project.

Each concern keeps its commands beside its code (``lcvg_env/data/cli.py``, ``lcvg_env/export/cli.py``,
...); this file only mounts them. The applications built on the library (world-model training,
``lcvg_training``; RL agents, ``lcvg_agents``) add their commands through the ``lcvg.commands``
entry-point group declared in ``pyproject.toml``: the library never imports them by name. Option
names, defaults and help follow one convention (docs/cli.md).

Sub-modules are imported when the app is built, so they must stay light: heavy imports (torch,
mujoco) go inside the command functions (``lcvg --help`` in well under half a second).
"""

from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from typing import Annotated

import typer

from lcvg_env.cli_help import plain_help

plain_help()

app = typer.Typer(
    name="lcvg",
    help="lcvg-env: Layered Controllable Video Generation as a Gymnasium environment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# (module, attribute, group name): typer sub-apps mounted as ``lcvg <group> ...``.
SUB_APPS: list[tuple[str, str, str]] = [
    ("lcvg_env.data.cli", "app", "data"),
    ("lcvg_env.export.cli", "app", "export"),
    ("lcvg_env.metrics.detector_cli", "app", "detector"),
    ("lcvg_env.checkpoint_cli", "app", "checkpoint"),
]

# (module, attribute, command name): single commands mounted as ``lcvg <command>``.
COMMANDS: list[tuple[str, str, str]] = [
    ("lcvg_env.evaluation.cli", "evaluate", "evaluate"),
    ("lcvg_env.env.cli", "play", "play"),
    ("lcvg_env.env.cli", "rollout", "rollout"),
    ("lcvg_env.export.mimic_cli", "mimic_command", "mimic"),
    ("lcvg_env.demo_cli", "demo", "demo"),
    ("lcvg_env.control_gain_cli", "control_gain", "control-gain"),
    ("lcvg_env.env_realism_cli", "env_realism", "env-realism"),
    ("lcvg_env.fidelity_budget_cli", "budget", "budget"),
    ("lcvg_env.reach_check_cli", "reach_check", "reach-check"),
    ("lcvg_env.sim_to_real_cli", "sim_to_real", "sim-to-real"),
]


@app.command()
def presets(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the named model presets with frame size and parameter counts."""
    from lcvg_env.models.presets import preset_summaries

    rows = preset_summaries()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lcvg presets")
    table.add_column("name", no_wrap=True, min_width=max(len(r["name"]) for r in rows))  # never cut a name
    for col in ("frame (HxW)", "generator params", "discriminator params", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['height']}x{r['width']}",
            f"{r['generator_params'] / 1e6:.2f}M",
            f"{r['discriminator_params'] / 1e6:.2f}M",
            r["description"],
        )
    Console().print(table)


ENTRY_POINT_GROUP = "lcvg.commands"
"""Entry points of this group are mounted as ``lcvg <name>``: a typer app as a group, a function as a
command (``pyproject.toml`` declares ``train`` and ``agent``; other packages may add their own)."""


def _mount() -> None:
    for module, attr, name in SUB_APPS:
        app.add_typer(getattr(importlib.import_module(module), attr), name=name)
    for module, attr, name in COMMANDS:
        app.command(name)(getattr(importlib.import_module(module), attr))
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        obj = ep.load()
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=ep.name)
        else:
            app.command(ep.name)(obj)


_mount()


def plain_warnings() -> None:
    """lcvg's own warnings (a broken episode left out, ...) print as ``Warning: MESSAGE``: the message
    names the file and what to do, Python's source location and code line would only hide it."""
    import warnings

    python_format = warnings.formatwarning

    def format_warning(message, category, filename, lineno, line=None):  # type: ignore[no-untyped-def]
        if category.__module__.startswith("lcvg_env"):
            return f"Warning: {message}\n"
        return python_format(message, category, filename, lineno, line)

    warnings.formatwarning = format_warning


def main() -> None:
    """Console-script entry point (``lcvg``)."""
    plain_warnings()
    app()


if __name__ == "__main__":
    main()
