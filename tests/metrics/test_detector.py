"""The gripper-tip detector: API, resizing, NaN where nothing is found, files, errors, the packaged asset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.metrics.detector import (
    DetectorConfig,
    TipDetections,
    TipDetector,
    as_unit_frames,
    load_detector,
    save_detector,
)
from lcvg_env.metrics.detector_augment import AugmentConfig, compose

os.environ.setdefault("MUJOCO_GL", "egl")
TINY = DetectorConfig(channels=(4, 4, 4, 4))


def tiny(presence_bias: float = 0.0, seed: int = 0) -> TipDetector:
    torch.manual_seed(seed)
    det = TipDetector(TINY).eval()
    det.presence.bias.data.fill_(presence_bias)  # +20: always found, -20: never
    return det


def random_frames(n: int = 3, h: int = 64, w: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_detect_shapes_dtypes_and_input_forms() -> None:
    det, frames = tiny(20.0), random_frames()
    out = det.detect(frames)
    assert isinstance(out, TipDetections)
    assert out.xy.shape == (3, 2) and out.xy.dtype == torch.float32
    assert out.found.dtype == torch.bool and out.found.all()
    assert out.score.dtype == torch.float32 and ((out.score >= 0) & (out.score <= 1)).all()
    assert ((out.xy >= 0) & (out.xy <= 64)).all()
    as_float = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, H, W)
    for other in (torch.from_numpy(frames), as_float):
        torch.testing.assert_close(det.detect(other).xy, out.xy)
    assert det.detect(frames[:0]).xy.shape == (0, 2)
    assert len(det.detect(frames, batch_size=2).xy) == 3  # batched internally


def test_not_found_is_nan() -> None:
    out = tiny(-20.0).detect(random_frames())
    assert not out.found.any() and torch.isnan(out.xy).all() and (out.score < 0.01).all()


def test_positions_map_back_to_the_input_size() -> None:
    det = tiny(20.0)
    det.heatmap.weight.data.zero_()
    det.heatmap.bias.data.zero_()  # flat heatmap: the peak is cell (0, 0), the window its 3x3 corner
    assert det.detect(random_frames()).xy[0].tolist() == pytest.approx([3.0, 3.0])  # mean of 1, 3, 5 px
    xy = det.detect(random_frames(2, h=96, w=128)).xy  # resized to 64x64, mapped back
    assert xy[0].tolist() == pytest.approx([6.0, 4.5])


def test_locate_is_sub_pixel() -> None:
    det = tiny()
    h = w = 32
    true = torch.tensor([[20.3, 41.7], [5.1, 60.2]])  # (x, y) px; cells are 2 px
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    heat = -((xs - true[:, :1, None] / 2) ** 2 + (ys - true[:, 1:, None] / 2) ** 2) / (2 * 0.6**2)
    torch.testing.assert_close(det.locate(heat), true, atol=0.05, rtol=0)


def test_bad_input_is_refused_with_a_clear_message() -> None:
    det = tiny()
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        det.detect(random_frames()[0])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        det.detect(torch.zeros(2, 64, 64, 3))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        det.detect(torch.full((1, 3, 64, 64), 200.0))
    with pytest.raises(ValueError, match="NaN"):
        det.detect(torch.full((1, 3, 64, 64), float("nan")))
    with pytest.raises(TypeError):
        as_unit_frames([[1, 2, 3]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        DetectorConfig(threshold=1.0)


def test_save_load_round_trip_without_pickle(tmp_path: Path) -> None:
    det, path = tiny(1.0), tmp_path / "det.safetensors"
    save_detector(det, path, {"note": "test", "held_out": {"median_px": 0.3}})
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])  # safetensors: JSON header, tensors
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} <= {"F16", "I64"}
    loaded = load_detector(path)
    assert loaded.config == det.config and loaded.metadata["note"] == "test" and not loaded.training
    frames = random_frames()
    torch.testing.assert_close(loaded.detect(frames).xy, det.detect(frames).xy, atol=0.05, rtol=0)


def test_load_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="lcvg detector train"):
        load_detector(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_detector(bad)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="not a tip detector"):
        load_detector(other)
    path = tmp_path / "det.safetensors"
    save_detector(tiny(), path, {})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["lcvg_detector"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["config"]["channels"] = [8, 8, 8, 8]
    save_file(tensors, str(path), metadata={"lcvg_detector": json.dumps(meta)})
    with pytest.raises(ValueError, match="do not match"):
        load_detector(path)


def test_augmentation_labels_follow_the_geometry() -> None:
    b, gen = 32, torch.Generator().manual_seed(1)
    tips = torch.rand(b, 2, generator=gen) * 40 + 12
    x = torch.full((b, 3, 64, 64), -1.0)
    for i, (tx, ty) in enumerate(tips.long().tolist()):
        x[i, :, ty - 1 : ty + 2, tx - 1 : tx + 2] = 1.0  # a bright 3x3 dot around the tip
    tips = tips.long().float() + 0.5  # its centre
    cfg = AugmentConfig(
        p_free=0, p_dissolve=0, p_junk=0, p_smear=0, p_blur=0, p_down=0, p_blocks=0, p_noise=0
    )
    cfg.p_jitter, cfg.p_affine = 0.0, 1.0
    out, new_tips, present = compose(x, x, torch.zeros(b, 1, 64, 64), tips, cfg, gen)
    assert present.all()
    peak = out.mean(dim=1).flatten(1).argmax(dim=1)
    found = torch.stack([peak % 64, peak // 64], dim=1).float() + 0.5
    assert (found - new_tips).norm(dim=1).max() < 1.5
    assert (new_tips - tips).norm(dim=1).max() > 2  # the warp did move them


def test_augmentation_negatives_share() -> None:
    gen, b = torch.Generator().manual_seed(0), 400
    x = torch.zeros(b, 3, 64, 64)
    _, _, present = compose(x, x, torch.zeros(b, 1, 64, 64), torch.full((b, 2), 32.0), AugmentConfig(), gen)
    assert 0.6 < present.float().mean() < 0.8  # 1 - (0.15 + 0.1 + 0.03)


@pytest.fixture(scope="module")
def pusher_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mujoco")
    from lcvg_env.data.pusher import generate_pusher

    root = tmp_path_factory.mktemp("pusher")
    generate_pusher(root, episodes=2, frames=8, seed=11, split="test")
    generate_pusher(root, episodes=1, frames=8, seed=12, split="train")
    generate_pusher(root, episodes=1, frames=8, seed=13, split="val")
    return root


def test_packaged_detector_finds_the_tip_on_real_frames(pusher_root: Path) -> None:
    from lcvg_env.metrics.detector_data import load_tip_data

    data = load_tip_data(pusher_root, "test", arm_free=True)
    det = load_detector("pusher")
    out = det.detect(data.frames)
    assert out.found.all()
    err = (out.xy - torch.from_numpy(data.tips)).norm(dim=1)
    assert float(err.median()) < 0.75 and float(err.max()) < 1.5, err
    assert not det.detect(data.free).found.any()  # the same states without the arm
    up = np.stack([np.kron(f, np.ones((2, 2, 1), dtype=np.uint8)) for f in data.frames[:4]])  # 128x128
    err_up = (det.detect(up).xy / 2 - torch.from_numpy(data.tips[:4])).norm(dim=1)
    assert float(err_up.max()) < 1.5


def test_arm_free_render_checks_the_episodes(pusher_root: Path) -> None:
    from lcvg_env.metrics.detector_data import load_tip_data, render_arm_free

    data = load_tip_data(pusher_root, "test")
    with pytest.raises(ValueError, match="does not reproduce") as err:
        render_arm_free(pusher_root, "test", ["00000"], data.tips[8:16])  # episode 1's tips for episode 0
    # the way out for each command that renders them (train has no --no-arm-free)
    assert "`lcvg detector eval` skips them with --no-arm-free; `lcvg detector train` needs them" in str(
        err.value
    )


@pytest.mark.slow
def test_cli_train_then_eval(pusher_root: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lcvg_env.cli import app

    out = tmp_path / "det.safetensors"
    args = ["detector", "train", str(pusher_root), "--out", str(out), "--steps", "2", "--eval-every", "1"]
    result = CliRunner().invoke(app, [*args, "--batch-size", "4", "--report", f"{pusher_root}:test"])
    assert result.exit_code == 0, result.output
    meta = load_detector(out).metadata
    assert meta["command"].startswith("lcvg detector train") and f"{pusher_root}:test" in meta["held_out"]
    assert meta["held_out"][f"{pusher_root}:test"]["frames"] == 16
    result = CliRunner().invoke(
        app, ["detector", "eval", str(pusher_root), "--json", str(tmp_path / "d.json")]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "d.json").read_text())
    assert figures["frames"] == 16 and figures["arm_free_frames"] == 16
    assert figures["median_px"] < 0.75 and figures["missed_rate"] == 0 and figures["false_found_rate"] == 0
    result = CliRunner().invoke(
        app, ["detector", "eval", str(pusher_root), "--detector", str(tmp_path / "no")]
    )
    assert result.exit_code == 1 and "lcvg detector train" in result.output


# ------------------------------------------------------------- `lcvg detector train`: bad input, log lines
def _fake_pusher(
    root: Path, splits: tuple[str, ...] = ("train", "val"), generator: str | None = "pusher"
) -> Path:
    """Episodes shaped like `lcvg data pusher`'s (16x16, tip_px + arm_mask; breakout's paddle_px otherwise),
    with their recipe in dataset.json unless ``generator`` is None. No MuJoCo needed."""
    from lcvg_env.data.layout import update_dataset_info, write_episode

    if generator in ("pusher", None):
        ann = {"tip_px": np.full((3, 2), 8.0, np.float32), "arm_mask": np.zeros((3, 16, 16), bool)}
    else:
        ann = {"paddle_px": np.full((3, 2), 8.0, np.float32)}
    for split in splits:
        write_episode(root / split, "00000", np.zeros((3, 16, 16, 3), np.uint8), ann)
        if generator is not None:
            update_dataset_info(root, split, {"generator": generator, "seed": 0, "frames": 3, "size": 16})
    return root


def _detector_train(*args: object):
    from typer.testing import CliRunner

    from lcvg_env.cli import app

    return CliRunner().invoke(app, ["detector", "train", *map(str, args)])


def _long_work(*args: object, **kwargs: object) -> None:
    raise AssertionError("the training started before the bad input was reported")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "DATA_DIR {d} does not exist; `lcvg detector train` needs a dataset folder made by"),
        ("file", "DATA_DIR {d} is a file; `lcvg detector train` needs a dataset folder made by"),
        (
            "empty",
            "has no 'train' or 'val' split (it has no split folders); `lcvg detector train` needs a dataset "
            "folder made by `lcvg data pusher`, with a 'train' split to train on and a 'val' split to select "
            "the weights on. Write them with `lcvg data pusher {d} --split train` and "
            "`lcvg data pusher {d} --split val`.",
        ),
        (
            "no-val",
            "DATA_DIR {d} has no 'val' split (it has train); `lcvg detector train` needs a dataset folder "
            "made by `lcvg data pusher`, with a 'train' split to train on and a 'val' split to select the "
            "weights on. Write it with `lcvg data pusher {d} --split val --frames 3 --size 16`.",
        ),
        ("breakout", "{d}: the 'train' split was made by `lcvg data breakout`, whose episodes hold no"),
        ("no-annotations", "00000: no tip_px/arm_mask annotations. The tip detector needs data made by"),
        ("no-record", "does not record that `lcvg data pusher` made the 'train' split"),
        ("bad-report", "--report {d}:test: {d}/test is not a split folder"),
    ],
    ids=["missing", "file", "empty", "no-val", "breakout", "no-annotations", "no-record", "bad-report"],
)
def test_detector_train_refuses_unusable_data_in_one_line_before_it_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, message: str
) -> None:
    monkeypatch.setattr("lcvg_env.metrics.detector_train.main", _long_work)
    data = tmp_path / "data"
    if case == "file":
        data.write_text("not a dataset")
    elif case == "empty":
        data.mkdir()
    elif case == "no-val":
        _fake_pusher(data, ("train",))
    elif case == "breakout":
        _fake_pusher(data, generator="breakout")
    elif case in ("no-annotations", "no-record"):
        _fake_pusher(data, generator=None)
        if case == "no-annotations":
            (data / "train" / "00000" / "annotations.npz").unlink()
    elif case == "bad-report":
        _fake_pusher(data)
    extra = ["--report", f"{data}:test"] if case == "bad-report" else []
    result = _detector_train(data, "--out", tmp_path / "det.safetensors", *extra)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.strip().splitlines() == [result.output.strip()]  # one line, no traceback
    assert result.output.startswith("Error: ") and message.format(d=data) in result.output
    assert "--split NAME" not in result.output  # `detector train` has no --split option
    assert not (tmp_path / "det.safetensors").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{tmp}/det.txt"], "--out {tmp}/det.txt must end in .safetensors, e.g. {tmp}/det.saf"),
        (["--out", "{tmp}/det.safetensors", "--episodes", "0"], "--episodes must be >= 1, got 0."),
    ],
    ids=["out-suffix", "episodes"],
)
def test_detector_train_refuses_a_bad_option_before_it_reads_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str
) -> None:
    monkeypatch.setattr("lcvg_env.metrics.detector_data.check_training_data", _long_work, raising=False)
    monkeypatch.setattr("lcvg_env.metrics.detector_train.main", _long_work)
    result = _detector_train(_fake_pusher(tmp_path / "data"), *(e.format(tmp=tmp_path) for e in extra))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert message.format(tmp=tmp_path) in " ".join(result.output.replace("│", " ").split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_detector_train_log_lines_are_strict_json_with_null_for_an_infinite_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread: None
) -> None:
    pytest.importorskip("mujoco")
    from lcvg_env.data.pusher import generate_pusher

    root = tmp_path / "data"
    for split in ("train", "val"):
        generate_pusher(root, episodes=1, frames=3, size=32, seed=0, split=split)
    monkeypatch.setattr("lcvg_env.metrics.detector_train.selection_score", lambda fig: float("inf"))
    out = tmp_path / "det.safetensors"
    result = _detector_train(root, "--out", out, "--steps", "1", "--eval-every", "1", "--batch-size", "2")
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    rows = [json.loads(line, parse_constant=refuse) for line in result.output.splitlines() if line[:1] == "{"]
    assert len(rows) == 1 and rows[0]["step"] == 1 and rows[0]["val_score"] is None
    assert load_detector(out).metadata["training"]["best_step"] == 1
