"""Where and how a command computes: the torch device and the CPU threads, checked in one place.

Every command with ``--device`` reads it through :func:`resolve_device` and every command with
``--threads`` through :func:`set_threads`, so a wrong value fails at once with a message that says
what to pass, never as a raw torch error halfway through a run.

Threads: torch's intra-op threads are OpenMP threads that spin while they wait for each other. On a
CPU shared with other jobs a spinning thread that is descheduled stalls the others: a single env at
torch's default of 2 threads dropped to 2-10 steps/s next to another job while it kept 55-90 steps/s at
1 thread (issue 19). The env therefore computes on 1 thread by default (:func:`torch_threads`, see
``EnvConfig.threads``); commands take ``--threads N`` for the rest of their work.

Nothing here imports torch at module level: the CLI imports this module at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

DEVICE_CHOICES = "cpu, cuda, cuda:N, mps or auto"
"""The device strings every command accepts (``auto``: cuda when available, then mps, else cpu)."""

DEVICE_RE = re.compile(r"^(cpu|mps|auto|cuda(:\d+)?)$")


def check_device(text: str, option: str = "--device") -> str:
    """``text`` unchanged when it names a device this machine has (``auto`` is kept as it is).

    Raises ``ValueError`` naming the option, the value and the choices.
    """
    import torch

    name = str(text).strip().lower()
    if not DEVICE_RE.match(name):
        raise ValueError(f"{option} {text!r} is not a device lcvg-env runs on: use {DEVICE_CHOICES}.")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"{option} {text}: CUDA is not available on this machine; use {option} cpu.")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"{option} {text}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}."
            )
    if name == "mps" and not _mps_available():
        raise ValueError(f"{option} mps: Apple's MPS backend is not available here; use {option} cpu.")
    return name


def resolve_device(text: str, option: str = "--device") -> str:
    """The torch device string for ``text`` (checked as :func:`check_device`; ``auto`` resolved)."""
    import torch

    name = check_device(text, option)
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if _mps_available() else "cpu"


def _mps_available() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def check_threads(threads: int | None, option: str = "--threads") -> int | None:
    """``threads`` when it is None or an integer >= 1; else a ``ValueError`` that says so."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(
            f"{option} must be an integer >= 1 (torch CPU threads; 1 holds up best on a shared CPU), "
            f"got {threads!r}."
        )
    return threads


def set_threads(threads: int | None, option: str = "--threads") -> None:
    """``torch.set_num_threads(threads)`` for the rest of the process (None: leave torch's setting)."""
    if check_threads(threads, option) is not None:
        import torch

        torch.set_num_threads(threads)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block on ``threads`` torch CPU threads and restore the caller's setting after it.

    torch's setting belongs to the calling thread, so the env can step on its own thread count
    without changing the caller's for the rest of the process (a policy network trained beside it
    keeps its threads). None: the caller's setting, untouched.
    """
    if check_threads(threads, "threads") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
