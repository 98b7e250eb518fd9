"""Every command of README.md runs as written, in order, scaled down (issue 18).

The test reads README's ```bash and ```python blocks top to bottom and runs each command in one
temporary folder (``data/``, ``runs/``, ... are made by the README's own earlier steps), with
``LCVG_HOME`` there too. Commands run in this process through the ``lcvg`` app. Scaling only changes
counts, through the documented options (:data:`SCALE`): fewer episodes, frames, steps and training
iterations. What is not run, and why:

* ``pip install ...``: the environment the test runs in is that install;
* ``ruff ...`` and ``python -m pytest``: CI runs them itself (pytest would run this test again);
* ``lcvg play``: a window needs a display; without one the test checks that it stops at once and
  says so (docs/env.md).

Commands written inline in the prose (`` `lcvg reach-check pusher ...` ``, `` `python benchmarks/...` ``)
are hours of measuring at full size; :func:`test_inline_readme_commands_are_well_formed` checks that each
names a real command or script with options it takes, and only folders the README's own blocks make.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lcvg_env.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"

SCALE: dict[tuple[str, ...], dict[str, str | tuple[str, ...]]] = {
    # command prefix -> option: value (replaced, or added; "" for a flag; a tuple: added, repeatable)
    ("data", "pusher"): {"--episodes": "2", "--frames": "6"},
    ("data", "atari-tennis"): {"--episodes": "2", "--frames": "6"},
    ("train",): {
        "--stage1-steps": "2", "--stage2-steps": "1", "--batch-size": "2", "--threads": "1",
        "--no-progress": "",
    },
    ("evaluate",): {"--episodes": "2", "--skip": "fid", "--threads": "1"},
    ("control-gain",): {"--starts": "1", "--threads": "1"},
    ("budget",): {"--episodes": "1", "--frames": "4", "--threads": "1"},
    ("rollout",): {"--steps": "3"},
    ("agent", "train"): {
        "--timesteps": "32", "--n-envs": "2", "--hp": ("n_steps=16", "batch_size=32"), "--eval-freq": "0",
        "--eval-episodes": "2", "--checkpoint-freq": "0", "--video-episodes": "0", "--threads": "1",
        "--no-progress": "",
    },
    ("agent", "eval"): {"--episodes": "2", "--threads": "1"},
    ("sim-to-real",): {"--starts": "1", "--steps": "3", "--walks": "1", "--threads": "1"},
    ("export", "labels"): {"--max-episodes": "1", "--no-progress": "", "--threads": "1"},
    ("export", "rollouts"): {"--episodes": "2", "--steps": "3", "--no-progress": "", "--threads": "1"},
    ("mimic",): {"--episode": "1", "--max-frames": "3", "--threads": "1"},
    ("demo",): {"--steps": "4"},
    ("checkpoint", "bundle"): {"--actuator-taps": "2"},
}  # fmt: skip
"""Per command, the documented options set to small values (2 episodes of 6 frames, 2 + 1 training
iterations, ...). ``evaluate`` skips FID (Inception on every frame; KID and the rest still run);
``checkpoint bundle`` fits a 2-step arm response (2 x 5 steps of data);
``mimic`` drives with episode 1 (the scaled test split has 2); ``agent train`` collects 16 steps per
env and PPO update (minibatches of 32)."""

SUBSTITUTE = {"compile=true": "compile=false"}
"""torch.compile's first compilation takes minutes: the agent's env runs eager here."""

NOT_RUN = ("pip", "ruff", "python")


def readme_blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced bash or python block of README.md, in order."""
    return re.findall(r"```(bash|python)\n(.*?)```", README.read_text(), flags=re.S)


def shell_commands(body: str) -> list[list[str]]:
    """The commands of a bash block: lines joined at a trailing backslash, comments dropped, ``&&``
    chains split."""
    out = []
    for line in body.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            out.append(words[:cut])
            words = words[cut + 1 :]
    return [w for w in out if w]


def scaled(argv: list[str]) -> list[str]:
    """``argv`` (without ``lcvg``) with :data:`SCALE`'s options and :data:`SUBSTITUTE` applied."""
    argv = [SUBSTITUTE.get(w, w) for w in argv]
    for prefix, options in SCALE.items():
        if tuple(argv[: len(prefix)]) != prefix:
            continue
        for option, value in options.items():
            if isinstance(value, tuple):
                argv += [w for v in value for w in (option, v)]
            elif option in argv and value:
                argv[argv.index(option) + 1] = value
            elif option not in argv:
                argv += [option, value] if value else [option]
    return argv


def test_readme_has_the_pipeline() -> None:
    commands = [c for lang, body in readme_blocks() if lang == "bash" for c in shell_commands(body)]
    names = [" ".join(c[:3]) for c in commands if c[0] == "lcvg"]
    assert any(n.startswith("lcvg data pusher") for n in names) and any(
        n.startswith("lcvg train") for n in names
    )
    assert scaled(["train", "d", "--stage2-steps", "8495"])[3] == "1"  # a count is replaced, not added twice
    agent = scaled(["agent", "train", "E", "--hp", "n_epochs=5"])
    assert agent[3:5] == ["--hp", "n_epochs=5"] and "n_steps=16" in agent  # repeatable: kept, then added


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)  # tests/conftest.py's dummy driver: no display
    runner, ran = CliRunner(), []
    for lang, body in readme_blocks():
        if lang == "python":
            exec(compile(body, "README.md", "exec"), {})  # the gymnasium example, as written
            ran.append("python block")
            continue
        for words in shell_commands(body):
            if words[0] in NOT_RUN:
                continue
            assert words[0] == "lcvg", f"README command not covered by this test: {shlex.join(words)}"
            argv = scaled(words[1:])
            start = time.perf_counter()
            result = runner.invoke(app, argv)
            print(f"{time.perf_counter() - start:6.1f} s  lcvg {shlex.join(argv)}")
            if argv[0] == "play":  # no display here: a clear error at once, not a hidden window
                assert result.exit_code != 0 and "display" in result.output.lower(), result.output
            else:
                assert result.exit_code == 0, f"lcvg {shlex.join(argv)}\n{result.output}"
            ran.append(argv[0])
    for step in ("data", "train", "evaluate", "export", "mimic", "agent", "checkpoint", "python block"):
        assert step in ran


def inline_commands() -> list[list[str]]:
    """The ``lcvg ...`` and ``python ...`` commands written inline in README's prose (a span may wrap)."""
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)  # the fenced blocks run above
    spans = re.findall(r"`((?:lcvg|python)\s[^`]*)`", text)
    return [shlex.split(" ".join(span.split())) for span in spans]


def made_by_readme() -> set[str]:
    """The folders README's fenced commands create: every ``--out`` and ``lcvg data`` target."""
    made = set()
    for lang, body in readme_blocks():
        for words in shell_commands(body) if lang == "bash" else []:
            made.update(words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--out", "-o"))
            if words[:2] == ["lcvg", "data"] and len(words) > 3:
                made.add(words[3])
    return {m.rstrip("/") for m in made}


def test_inline_readme_commands_are_well_formed() -> None:
    import typer.main

    root, made = typer.main.get_command(app), made_by_readme()
    checked = 0
    for words in inline_commands():
        if words[0] == "python":  # a script of the repository, given options its parser declares
            script = README.parent / words[1]
            assert script.is_file(), f"README names {words[1]}, which does not exist"
            source = script.read_text()
            for option in (w for w in words[2:] if w.startswith("--")):
                assert f'"{option}"' in source, f"{words[1]} has no option {option}"
        else:
            words = words[1:]
            if any("|" in w or w.isupper() for w in words):
                continue  # a command named with placeholders (`lcvg agent eval MODEL ...`)
            cmd, rest = root, list(words)
            while hasattr(cmd, "commands") and rest:  # down the groups to the command itself
                assert rest[0] in cmd.commands, f"README: lcvg {shlex.join(words)}: no such command"
                cmd, rest = cmd.commands[rest[0]], rest[1:]
            if not rest:
                continue  # a command named in passing (`lcvg evaluate`, `lcvg demo`)
            cmd.make_context(words[0], rest)  # parses the arguments and options: unknown ones fail
        for path in (w for w in words if re.match(r"(runs|data)/", w)):
            top = "/".join(path.split("/")[:2])
            assert top in made, f"README's inline command names {path}; no README command makes {top}"
        checked += 1
    assert checked >= 10


def test_readme_names_the_registered_ids() -> None:
    import gymnasium

    import lcvg_env  # noqa: F401  (registers the ids)

    line = next(ln for ln in README.read_text().splitlines() if ln.startswith("import lcvg_env  # registers"))
    named = set(re.findall(r"LCVG-[A-Za-z]+-v\d+", line))
    registered = {k for k in gymnasium.registry if k.startswith("LCVG-") and "MuJoCo" not in k}
    assert named == registered
