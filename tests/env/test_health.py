"""Long rollouts stay healthy: no NaN, frames in range, memory flat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lcvg_env.env import LCVGEnv


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


@pytest.mark.slow
def test_2000_steps_stay_healthy(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt, terminate_on_success=False)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(50):  # warm up allocator and kernels before measuring memory
        env.step(env.action_space.sample())
    before = rss_mb()
    for _ in range(2000):
        obs, reward, _, _, info = env.step(env.action_space.sample())
        assert np.isfinite(reward) and -1.0 <= reward <= 0.0
        assert info["mask"].any() == np.isfinite(info["centroid_px"]).all()
    after = rss_mb()
    assert obs.dtype == np.uint8 and obs.std() > 0
    assert after - before < 20.0, f"RSS grew from {before:.1f} MB to {after:.1f} MB over 2,000 steps"
