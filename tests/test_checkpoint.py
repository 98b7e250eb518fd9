from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from lcvg_env.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from tests.conftest import tiny_generator_config


def test_round_trip_gives_identical_outputs(tiny_checkpoint, tiny_generator):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.control_mode == "translation"
    assert ckpt.step == 7
    assert ckpt.extra == {"note": "test"}
    assert ckpt.start_frames.shape == (4, 32, 32, 3) and ckpt.start_frames.dtype == np.uint8
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = torch.tensor([[0.1, -0.2], [0.0, 0.3]])
    with torch.no_grad():
        a = tiny_generator.step(x, c, "translation").frame
        b = ckpt.generator.step(x, c, "translation").frame
    assert torch.equal(a, b)


def test_half_precision_checkpoint_is_smaller_and_close(tmp_path, tiny_generator):
    frames = np.zeros((1, 32, 32, 3), np.uint8)
    full = save_checkpoint(
        tmp_path / "f.safetensors", tiny_generator, control_mode="rotation", start_frames=frames
    )
    half = save_checkpoint(
        tmp_path / "h.safetensors", tiny_generator, control_mode="rotation", start_frames=frames, half=True
    )
    assert half.stat().st_size < 0.6 * full.stat().st_size
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    m = (torch.rand(1, 1, 32, 32) > 0.5).float()
    with torch.no_grad():
        ref = tiny_generator.generate(x, m).frame
        got = load_checkpoint(half).generator.generate(x, m).frame
    assert (ref - got).abs().mean() < 0.05  # a rare code flip may move single pixels more


def test_missing_file_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.safetensors does not exist.*lcvg train"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_file_is_reported(tmp_path, tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.safetensors.*(corrupt|truncated)"):
        load_checkpoint(bad)


def test_garbage_file_is_reported(tmp_path):
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"\x00\x01not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match=r"garbage\.safetensors"):
        load_checkpoint(bad)


def _rewrite_metadata(path, tmp_path, edit) -> object:
    """Copy a checkpoint with its JSON metadata edited (header rewritten, tensors untouched)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["lcvg"])
    edit(meta)
    header["__metadata__"]["lcvg"] = json.dumps(meta)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    out = tmp_path / "edited.safetensors"
    out.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])
    return out


def test_unknown_format_version_is_refused(tmp_path, tiny_checkpoint):
    edited = _rewrite_metadata(tiny_checkpoint, tmp_path, lambda m: m.update(format_version=99))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(edited)


def test_config_that_does_not_match_weights_is_refused(tmp_path, tiny_checkpoint):
    def widen(meta):
        meta["config"]["autoencoder"]["base_channels"] = 16

    edited = _rewrite_metadata(tiny_checkpoint, tmp_path, widen)
    with pytest.raises(CheckpointError, match="do not match the stored config"):
        load_checkpoint(edited)


def test_metadata_is_readable_without_weights(tiny_checkpoint):
    meta = read_metadata(tiny_checkpoint)
    assert meta["height"] == 32 and meta["width"] == 32
    assert meta["config"] == json.loads(json.dumps(meta["config"]))


def test_no_pickle_in_checkpoint(tiny_checkpoint):
    raw = tiny_checkpoint.read_bytes()
    assert b"\x80\x04\x95" not in raw[:4096]  # pickle protocol 4 header
    (n,) = struct.unpack("<Q", raw[:8])
    json.loads(raw[8 : 8 + n])  # the header is plain JSON


def test_bad_start_frames_are_refused(tmp_path):
    from lcvg_env.models import LayeredGenerator

    gen = LayeredGenerator(tiny_generator_config())
    with pytest.raises(ValueError, match="start_frames"):
        save_checkpoint(
            tmp_path / "x.safetensors",
            gen,
            control_mode="translation",
            start_frames=np.zeros((2, 16, 16, 3), np.uint8),
        )
    with pytest.raises(ValueError, match="Unknown control mode"):
        save_checkpoint(
            tmp_path / "x.safetensors",
            gen,
            control_mode="zoom",
            start_frames=np.zeros((2, 32, 32, 3), np.uint8),
        )
    assert not (tmp_path / "x.safetensors").exists()
