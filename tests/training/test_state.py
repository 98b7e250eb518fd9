"""The pickle-free resume state: optimizer and RNG round trips, atomic folder updates."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from lcvg_training import state as st


def _stepped_adam() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1, betas=(0.5, 0.9))
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    return model, opt


def test_optimizer_round_trip_through_json_and_tensors():
    model, opt = _stepped_adam()
    tensors, meta = st.flatten_optimizer(opt, "opt")
    meta = json.loads(json.dumps(meta))
    fresh = torch.optim.Adam(model.parameters(), lr=0.5)
    fresh.load_state_dict(st.unflatten_optimizer(tensors, meta, "opt"))
    for a, b in zip(opt.state.values(), fresh.state.values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["step"], b["step"])
    assert fresh.param_groups[0]["lr"] == 0.1


def test_rng_round_trip():
    tensors, meta = st.rng_state()
    meta = json.loads(json.dumps(meta))
    first = (torch.rand(2), np.random.rand(), random.random())
    st.set_rng_state(tensors, meta)
    second = (torch.rand(2), np.random.rand(), random.random())
    assert torch.equal(first[0], second[0]) and first[1:] == second[1:]


def test_save_state_replaces_previous_and_loads(tmp_path):
    st.save_state(tmp_path, 1, {"a": torch.zeros(2)}, {"step": 1})
    st.save_state(tmp_path, 2, {"a": torch.ones(2)}, {"step": 2})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["manifest.json", "meta-000000002.json", "tensors-000000002.safetensors"]
    tensors, meta = st.load_state(tmp_path)
    assert meta["step"] == 2 and torch.equal(tensors["a"], torch.ones(2))


def test_missing_state_names_the_folder(tmp_path):
    with pytest.raises(st.StateError, match=str(tmp_path)):
        st.load_state(tmp_path)
