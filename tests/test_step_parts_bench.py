"""benchmarks/bench_step_parts.py: where an env step's time goes, and the lag fit against Eq. 5's full fit."""

from __future__ import annotations

import dataclasses
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.conftest import load_script, tiny_generator_config


@pytest.mark.parametrize(("timing", "generations", "m_passes"), [("within", 2, 2), ("next", 1, 1)])
def test_parts_of_a_corrected_step_and_the_lag_fits_compared(
    tmp_path, monkeypatch, capsys, one_torch_thread, timing, generations, m_passes
) -> None:
    from lcvg_env.checkpoint import save_checkpoint
    from lcvg_env.models import LayeredGenerator

    bench = load_script("benchmarks/bench_step_parts.py")
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        tiny_generator_config(), correction_passes=1, correction_timing=timing, subpixel=True
    )
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    path = save_checkpoint(
        tmp_path / "m.safetensors", LayeredGenerator(cfg), control_mode="translation", start_frames=frames
    )
    episodes = [SimpleNamespace(frames=lambda f=f: f[None]) for f in frames]
    monkeypatch.setattr(bench, "open_episodes", lambda data, split: episodes)
    argv = ["bench", "--checkpoint", str(path), "--data", "d", "--envs", "4", "--steps", "3", "--warmup", "1"]
    monkeypatch.setattr(sys, "argv", [*argv, "--episode", "2", "--threads", "1"])
    bench.main()
    out = capsys.readouterr().out
    assert f"lag correction {timing}, 3 steps" in out
    assert f"generate (E, Z, D) x {generations}" in out and f"M x {m_passes}" in out
    assert "lag fit (Eq. 5)" in out and "rest" in out
    assert "the run's 12 lag fits" in out  # one fit per env and step, either timing
    assert "|lag_fit_config - every shift + polish|" in out


def test_rotation_models_are_refused(tmp_path, monkeypatch) -> None:
    from lcvg_env.checkpoint import save_checkpoint
    from lcvg_env.models import LayeredGenerator

    bench = load_script("benchmarks/bench_step_parts.py")
    frames = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    path = save_checkpoint(
        tmp_path / "r.safetensors", LayeredGenerator(tiny_generator_config()), control_mode="rotation",
        start_frames=frames,
    )  # fmt: skip
    monkeypatch.setattr(bench, "open_episodes", lambda data, split: [SimpleNamespace(frames=lambda: frames)])
    monkeypatch.setattr(sys, "argv", ["bench", "--checkpoint", str(path), "--data", "d", "--envs", "2"])
    with pytest.raises(SystemExit, match="translation models"):
        bench.main()
