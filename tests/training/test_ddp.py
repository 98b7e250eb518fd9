"""Data-parallel training: two gloo processes on CPU end with identical weights."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, run: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    from lcvg_training.trainer import Trainer
    from tests.training.conftest import tiny_config, tiny_preset_object

    cfg = tiny_config(stage1_steps=3, stage2_steps=2, disc_start=1, batch_size=2)
    trainer = Trainer(cfg, data, run, preset=tiny_preset_object(), progress=False)
    result = trainer.train()
    weights = {
        **{f"g.{k}": v for k, v in trainer.generator.state_dict().items()},
        **{f"d.{k}": p.detach() for k, p in trainer.loss.discriminator.named_parameters()},
    }
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in weights.items()},
        f"{out}/rank{rank}.safetensors",
        metadata={"step": str(result.step), "checkpoint": str(result.checkpoint)},
    )
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_end_with_identical_weights(squares, tmp_path: Path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    run = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_port(), str(squares), str(run), str(tmp_path)), nprocs=2, join=True)
    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    metas = [safe_open(tmp_path / f"rank{r}.safetensors", "pt").metadata() for r in (0, 1)]
    assert [m["step"] for m in metas] == ["5", "5"]
    assert metas[0]["checkpoint"].endswith("model.safetensors") and metas[1]["checkpoint"] == "None"
    assert (run / "model.safetensors").exists()  # only rank 0 writes
    trained = load_file(run / "model.safetensors")
    assert torch.equal(trained["generator.decoder.conv_out.weight"], a["g.decoder.conv_out.weight"])
