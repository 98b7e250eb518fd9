"""``compile=True``: the step runs through torch.compile and matches eager; a failed compile falls back."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.env import LCVGVectorEnv
from tests.env.conftest import make_checkpoint


def rollout(
    ckpt: Path, compile: bool, steps: int = 3, envs: int = 4
) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """Frames and masks of ``steps`` seeded steps of ``envs`` envs, and whether the step ran compiled."""
    venv = LCVGVectorEnv(envs, ckpt, compile=compile, dtype="float32", terminate_on_success=False)
    venv.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, envs, 2)).astype(np.float32)
    frames, masks = [], []
    for a in actions:
        obs, _, _, _, info = venv.step(a)
        frames.append(obs)
        masks.append(info["mask"])
    venv.reset(seed=1)  # a reset between compiled steps runs eager and leaves the networks eager
    obs, _, _, _, _ = venv.step(actions[0])
    frames.append(obs)
    compiled = venv.core.sim.compiled
    generator = venv.core.sim.generator  # between steps the methods are the eager ones
    assert "generate" not in vars(generator) and "forward" not in vars(generator.mask_net)
    venv.close()
    return frames, masks, compiled


def assert_close(eager: list[np.ndarray], compiled: list[np.ndarray], masks: tuple[list, list]) -> None:
    """Fused kernels round differently, so frames may differ by a level here and there, no more."""
    for a, b in zip(eager, compiled, strict=True):
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.mean() < 0.5 and (diff > 2).mean() < 0.01
    for a, b in zip(*masks, strict=True):
        assert (a == b).mean() > 0.99


@pytest.mark.slow
def test_compiled_step_matches_eager(tiny_ckpt: Path) -> None:
    eager_frames, eager_masks, _ = rollout(tiny_ckpt, compile=False)
    frames, masks, compiled = rollout(tiny_ckpt, compile=True)
    assert compiled
    assert_close(eager_frames, frames, (eager_masks, masks))


@pytest.mark.slow
def test_lag_correction_compiles_its_networks_and_matches_eager(tmp_path: Path) -> None:
    """With the lag correction only M, E and D are compiled (the Eq. 5 fit between them stays eager);
    outside a step (resets, the library's own calls) the generator is the eager one."""
    ckpt = make_checkpoint(tmp_path / "corrected.safetensors", 32, correction_passes=1, subpixel=True)
    eager_frames, eager_masks, _ = rollout(ckpt, compile=False, envs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # not fallen back to eager
        frames, masks, compiled = rollout(ckpt, compile=True, envs=2)
    assert compiled
    assert_close(eager_frames, frames, (eager_masks, masks))


@pytest.mark.parametrize("correction", [False, True], ids=["whole step", "networks"])
def test_failed_compile_warns_and_runs_eager(
    tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, correction: bool
) -> None:
    if correction:
        tiny_ckpt = make_checkpoint(tmp_path / "corrected.safetensors", 32, correction_passes=1)

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
