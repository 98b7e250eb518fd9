"""Every ``lcvg`` command follows docs/cli.md's one convention: the same option names for the same things,
``--threads`` and ``--device`` wherever torch computes, values shown as click shows them (no Python
tuples, no ``<bool>``), old spellings hidden, the world model taken as ``MODEL``."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from lcvg_env.cli import app

NOT_COMPUTE = {
    "agent convert": "reads a zip and writes its weights: no model runs",
    "checkpoint info": "reads the metadata and checks the weights once (finite): no model runs",
    "data atari-tennis": "records ALE frames: no torch",
    "data breakout": "records ALE frames: no torch",
    "data info": "decodes frames with Pillow: no torch",
    "data pusher": "renders MuJoCo frames: no torch (Mesa's CPU renderer reads LP_NUM_THREADS)",
    "presets": "counts parameters",
}
OLD_SPELLINGS = ("--num-envs", "--quiet", "--dtype", "--out-dir", "--bf16")
"""Hidden aliases (docs/cli.md, "Old spellings"): they work, but no help shows them."""


def _commands(cmd, path=()):
    subs = getattr(cmd, "commands", None)
    if subs is None:
        yield " ".join(path), cmd
        return
    for name, sub in sorted(subs.items()):
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(app)))


def _options(cmd) -> set[str]:
    return {o for p in cmd.params for o in getattr(p, "opts", [])}


def test_every_compute_command_takes_threads_and_device():
    lacking = {
        name: sorted({"--threads", "--device"} - _options(cmd))
        for name, cmd in COMMANDS.items()
        if name not in NOT_COMPUTE and not {"--threads", "--device"} <= _options(cmd)
    }
    assert lacking == {}, f"compute commands without --threads/--device: {lacking}"
    assert set(NOT_COMPUTE) <= set(COMMANDS)  # the exceptions are real commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_values_and_flags_the_click_way(name):
    result = CliRunner().invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert not re.search(r"\('[^']*', '", text), f"a Python tuple in `lcvg {name} --help`"
    assert not re.search(r"<(bool|int|str|float|path)>", text), f"a typer type label in `lcvg {name} --help`"
    usage = text.splitlines()[0]
    assert "OUT_ARG" not in usage and "{" not in usage  # hidden positionals stay out of the usage line
    for old in OLD_SPELLINGS:
        assert not re.search(rf"{old}\b", text), f"`lcvg {name} --help` shows the old spelling {old}"


def test_the_world_model_is_spelled_model_everywhere():
    for name, cmd in COMMANDS.items():
        for param in cmd.params:
            opts = getattr(param, "opts", [])
            if "--checkpoint" in opts:
                assert param.metavar == "MODEL" and "-c" in opts, f"lcvg {name} --checkpoint"
            if param.name == "checkpoint" and param.param_type_name == "argument":
                assert param.metavar == "MODEL", f"lcvg {name}: its model argument is not MODEL"


def test_same_things_have_the_same_option_names():
    """One name per thing: an output is --out with -o everywhere, and no command shows the old spellings
    (--num-envs for --n-envs, --quiet for --no-progress, --dtype for --precision, --out-dir for --out)."""
    for name, cmd in COMMANDS.items():
        opts = _options(cmd)
        if "--out" in opts:
            assert "-o" in opts, f"lcvg {name} --out has no -o"
        visible = {o for p in cmd.params if not getattr(p, "hidden", False) for o in getattr(p, "opts", [])}
        assert not visible & {"--num-envs", "--quiet", "--dtype", "--out-dir"}, name
