"""Shared pieces of the fault catalogue: one torch thread, a tiny checkpoint, and how a clean stop reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.env.conftest import make_checkpoint


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread) -> None:
    """One torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A 32x32 random-weight checkpoint (tests/env/conftest.py), one per test module."""
    return make_checkpoint(tmp_path_factory.mktemp("faults") / "tiny.safetensors", 32)


def must_not_run(*args, **kwargs):
    raise AssertionError("the long work started before the bad input was reported")


def clean_exit(result, code: int = 1) -> str:
    """The output of a command that stopped with ``code`` and no traceback, on one line."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    text = result.output.translate({ord(c): " " for c in "│╭╮╰╯─"})  # rich's error box, if any
    return " ".join(text.split())  # and the lines it wraps


def failing_writes(monkeypatch, error: BaseException, where=lambda path: True, whole: bool = False) -> None:
    """Make the files :mod:`lcvg_env.atomic` writes through Python (checkpoints, training states,
    detectors, agents' weights) fail as a real disk fails: part of the bytes land, then ``error``
    (``OSError(ENOSPC)`` for a full disk; ``whole``: all of them, then e.g. a ``KeyboardInterrupt``).
    ``where(path)`` picks the files (the writer's temporary path)."""
    import builtins

    real_open = builtins.open

    class Failing:
        def __init__(self, path, mode):
            self.file = real_open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data if whole else data[: len(data) // 2])
            self.file.flush()
            raise error

    def opener(path, mode="r", *args, **kwargs):
        if "w" in mode and where(Path(path)):
            return Failing(path, mode)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("lcvg_env.atomic.open", opener, raising=False)


def enospc(filename: str | None = None) -> OSError:
    """The error a write on a full disk raises."""
    import errno

    return OSError(errno.ENOSPC, "No space left on device", *([filename] if filename else []))


def fills_disk(*args, **kwargs):
    """A stand-in for a writer that meets a full disk (any arguments)."""
    raise enospc()


def fail_on_call(monkeypatch, owner, name: str, call: int, error: BaseException):
    """Replace ``owner.name`` by a function that raises ``error`` on its ``call``-th call (a Ctrl-C, a full
    disk at that moment) and otherwise calls the original; returns the original, for putting it back."""
    real, calls = getattr(owner, name), {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    return real
