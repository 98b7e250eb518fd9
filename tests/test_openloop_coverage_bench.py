"""benchmarks/openloop_coverage.py: the open-loop gap split by where the training data's true tip went."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import load_script


def test_the_table_splits_the_distance_by_coverage(tmp_path: Path, capsys, monkeypatch) -> None:
    bench = load_script("benchmarks/openloop_coverage.py")
    true = np.zeros((1, 2, 1, 2))
    true[0, 0, 0] = [5.0, 5.0]  # inside the data's tips
    true[0, 1, 0] = [60.0, 60.0]  # where no training tip went
    learned = true + np.array([[[[3.0, 4.0]], [[0.0, 1.0]]]])  # off by 5 px and 1 px
    np.savez(tmp_path / "p.npz", learned_tip=learned, true_tip=true, steps=np.array([10]))
    monkeypatch.setattr(bench, "data_tips", lambda data, split, size: np.array([[5.0, 5.0], [6.0, 6.0]]))
    monkeypatch.setattr("sys.argv", ["x", "--positions", str(tmp_path / "p.npz"), "--data", "d"])
    bench.main()
    assert "| 10 | 50.0% | 5.00 | 1.00 | 3.00 |" in capsys.readouterr().out
