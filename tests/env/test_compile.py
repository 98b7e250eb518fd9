"""``compile=True``: the step runs through torch.compile and matches eager; a failed compile falls back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.env import LCVGVectorEnv


def rollout(ckpt: Path, compile: bool, steps: int = 3) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """Frames and masks of ``steps`` seeded steps of 4 envs, and whether the step ran compiled."""
    venv = LCVGVectorEnv(4, ckpt, compile=compile, dtype="float32", terminate_on_success=False)
    venv.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 4, 2)).astype(np.float32)
    frames, masks = [], []
    for a in actions:
        obs, _, _, _, info = venv.step(a)
        frames.append(obs)
        masks.append(info["mask"])
    compiled = venv.core.sim.compiled
    venv.close()
    return frames, masks, compiled


@pytest.mark.slow
def test_compiled_step_matches_eager(tiny_ckpt: Path) -> None:
    """Fused kernels round differently, so frames may differ by a level here and there, no more."""
    eager_frames, eager_masks, _ = rollout(tiny_ckpt, compile=False)
    frames, masks, compiled = rollout(tiny_ckpt, compile=True)
    assert compiled
    for a, b in zip(eager_frames, frames, strict=True):
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.mean() < 0.5 and (diff > 2).mean() < 0.01
    for a, b in zip(eager_masks, masks, strict=True):
        assert (a == b).mean() > 0.99


def test_failed_compile_warns_and_runs_eager(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager_frames, _, _ = rollout(tiny_ckpt, compile=False, steps=2)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler found.*compile=False"):
        frames, _, compiled = rollout(tiny_ckpt, compile=True, steps=2)
    assert not compiled
    for a, b in zip(eager_frames, frames, strict=True):
        np.testing.assert_array_equal(a, b)


def test_compile_must_be_a_bool(tiny_ckpt: Path) -> None:
    with pytest.raises(ValueError, match="compile must be True or False"):
        LCVGVectorEnv(1, tiny_ckpt, compile="yes")
