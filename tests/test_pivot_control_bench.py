"""benchmarks/pivot_control.py: labels of each control family judged by the true tip."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from lcvg_env.control.pivot import PivotConfig, far_end
from tests.conftest import load_script
from tests.control.test_pivot import arm

PIVOT = torch.tensor([32.0, 4.0])


def test_pivot_labels_follow_a_turning_arm_and_translations_fall_short(monkeypatch, one_torch_thread) -> None:
    bench = load_script("benchmarks/pivot_control.py")
    masks = torch.stack([arm(a) for a in np.linspace(0.0, 0.4, 6)]).bool()  # (T, H, W), turning about PIVOT
    tips = torch.stack([far_end(m.float(), PIVOT) for m in masks])  # the tip at the far end
    episode = SimpleNamespace(frames=lambda size: np.zeros((len(masks), *size, 3), np.uint8))
    monkeypatch.setattr(bench, "binary_masks", lambda g, frames: masks)
    monkeypatch.setattr(bench, "ground_truth", lambda ep, size, n, key: tips)
    generator = SimpleNamespace(cfg=SimpleNamespace(height=64, width=64))
    rows = {
        family: bench.label_table(bench.Mover(generator, family, PIVOT, PivotConfig()), [episode], (64, 64))
        for family in bench.FAMILIES
    }
    pairs, share, miss = (float(v) for v in rows["pivot"].split())
    assert pairs == 5 and abs(share - 1.0) < 0.1 and miss < 1.0
    _, share_t, miss_t = (float(v) for v in rows["translation"].split())
    assert share_t < 0.85 and miss_t > miss
    _, share_c, miss_c = (float(v) for v in rows["cantilever"].split())  # the bent mask's far end
    assert abs(share_c - 1.0) < 0.15 and miss_c < miss_t


def test_far_end_row_reports_where_the_tip_lies_along_the_bend(monkeypatch, one_torch_thread) -> None:
    bench = load_script("benchmarks/pivot_control.py")
    masks = torch.stack([arm(a) for a in np.linspace(0.0, 0.4, 4)]).bool()  # (T, H, W)
    ends = torch.stack([far_end(m.float(), PIVOT) for m in masks])
    tips = PIVOT + 0.5 * (ends - PIVOT)  # the tip half way out along the arm
    episode = SimpleNamespace(frames=lambda size: np.zeros((len(masks), *size, 3), np.uint8))
    monkeypatch.setattr(bench, "binary_masks", lambda g, frames: masks)
    monkeypatch.setattr(bench, "ground_truth", lambda ep, size, n, key: tips)
    generator = SimpleNamespace(cfg=SimpleNamespace(height=64, width=64))
    mover = bench.Mover(generator, "cantilever", PIVOT, PivotConfig())
    frames, median, p10, p90, dist = (float(v) for v in bench.far_end_row(mover, [episode], (64, 64)).split())
    assert frames == 4 and abs(median - 0.5) < 1e-4 and abs(p10 - 0.5) < 1e-4 and abs(p90 - 0.5) < 1e-4
    assert abs(dist - float(torch.linalg.norm(ends[0] - tips[0]))) < 0.5
