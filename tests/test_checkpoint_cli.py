"""``lcvg checkpoint info|bundle``: which file a name resolves to, and shipping copies."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.checkpoint import load_checkpoint, read_metadata
from lcvg_env.cli import app


def test_info_prints_the_resolved_file_and_its_metadata(tiny_checkpoint):
    result = CliRunner().invoke(app, ["checkpoint", "info", str(tiny_checkpoint)])
    assert result.exit_code == 0, result.output
    assert str(tiny_checkpoint) in result.output and "composite margin: None" in result.output
    result = CliRunner().invoke(app, ["checkpoint", "info", str(tiny_checkpoint), "--json"])
    meta = json.loads(result.output)
    assert meta["path"] == str(tiny_checkpoint) and meta["config"]["height"] == 32


def test_info_of_a_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["checkpoint", "info", "no_such_model"])
    assert result.exit_code == 1 and "No checkpoint named 'no_such_model'" in result.output


def test_bundle_halves_the_weights_sets_the_composite_and_records_its_source(tiny_checkpoint, tmp_path):
    out = tmp_path / "bundled.safetensors"
    args = [
        "checkpoint",
        "bundle",
        str(tiny_checkpoint),
        str(out),
        "--composite-margin",
        "1",
        "--correction-passes",
        "2",
        "--correction-strength",
        "0.7",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    src, dst = load_checkpoint(tiny_checkpoint), load_checkpoint(out)
    assert dst.config.composite_margin == 1 and src.config.composite_margin is None
    assert dst.config.correction_passes == 2 and src.config.correction_passes == 0
    assert dst.config.correction_strength == 0.7 and src.config.correction_strength == 1.0
    assert out.stat().st_size < tiny_checkpoint.stat().st_size
    for (name, a), b in zip(
        src.generator.state_dict().items(), dst.generator.state_dict().values(), strict=True
    ):
        if a.is_floating_point():
            torch.testing.assert_close(b, a.half().float(), msg=name)
    assert (dst.start_frames == src.start_frames).all() and dst.step == src.step
    assert read_metadata(out)["extra"]["bundled_from"]["file"] == tiny_checkpoint.name
    # An existing OUT is never replaced silently; --overwrite replaces it, and 'none' turns the composite off.
    before = out.read_bytes()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "--overwrite" in result.output and out.read_bytes() == before
    args = ["checkpoint", "bundle", str(out), str(out), "--composite-margin", "none", "--overwrite"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out).config.composite_margin is None and "composite off" in result.output
    chain = read_metadata(out)["extra"]["bundled_from"]  # a bundle of a bundle: the chain to the run stays
    assert chain["file"] == out.name and chain["previous"]["file"] == tiny_checkpoint.name


def test_bundle_refuses_bad_margins_and_outputs(tiny_checkpoint, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "checkpoint",
            "bundle",
            str(tiny_checkpoint),
            str(tmp_path / "b.safetensors"),
            "--composite-margin",
            "-2",
        ],
    )
    assert result.exit_code != 0 and "integer >= 0" in result.output
    result = CliRunner().invoke(app, ["checkpoint", "bundle", str(tiny_checkpoint), str(tmp_path / "b.pt")])
    assert result.exit_code != 0 and ".safetensors" in result.output
    assert not (tmp_path / "b.safetensors").exists() and not (tmp_path / "b.pt").exists()


@pytest.mark.parametrize("strength", ["0", "-0.5", "1.5"])
def test_bundle_refuses_a_strength_outside_its_range_before_the_model_opens(tmp_path, monkeypatch, strength):
    monkeypatch.setattr("lcvg_env.model.open_model", lambda *a, **k: pytest.fail("opened the model"))
    out = tmp_path / "b.safetensors"
    argv = ["checkpoint", "bundle", "pusher_tiny", str(out), "--correction-strength", strength]
    result = CliRunner().invoke(app, argv)
    assert (
        result.exit_code == 2
        and "must be in (0, 1]" in result.output
        and "--correction-passes 0" in result.output
    )
    assert not out.exists()


def test_bundle_records_the_action_range_measured_on_data(tiny_checkpoint, tmp_path, red_mask):
    from lcvg_env.control.control_range import ENV_DEFAULTS_KEY
    from tests.conftest import write_square_dataset

    data = write_square_dataset(tmp_path / "data", episodes=2, frames=5, speed=3)
    out = tmp_path / "ranged.safetensors"
    base = ["checkpoint", "bundle", str(tiny_checkpoint), str(out)]
    result = CliRunner().invoke(
        app, [*base, "--max-displacement", "auto", "--data", str(data), "--split", "test"]
    )
    assert result.exit_code == 0, result.output
    recorded = read_metadata(out)["extra"][ENV_DEFAULTS_KEY]
    assert recorded["max_displacement"] == 3.0 and recorded["control_range"]["pairs"] == 8
    assert "max_displacement 3 px" in result.output
    info = CliRunner().invoke(app, ["checkpoint", "info", str(out)])
    assert "max_displacement: 3 px (env default)" in info.output
    again = [
        "checkpoint",
        "bundle",
        str(out),
        str(tmp_path / "by_hand.safetensors"),
        "--max-displacement",
        "2.5",
    ]
    assert CliRunner().invoke(app, again).exit_code == 0
    by_hand = read_metadata(tmp_path / "by_hand.safetensors")["extra"][ENV_DEFAULTS_KEY]
    assert (
        by_hand["max_displacement"] == 2.5 and by_hand["control_range"]["pairs"] == 8
    )  # the measurement stays
    result = CliRunner().invoke(app, [*base, "--max-displacement", "2.5", "--overwrite"])
    assert result.exit_code == 0 and read_metadata(out)["extra"][ENV_DEFAULTS_KEY]["max_displacement"] == 2.5
    result = CliRunner().invoke(app, [*base, "--max-displacement", "none", "--overwrite"])
    assert result.exit_code == 0 and ENV_DEFAULTS_KEY not in read_metadata(out)["extra"]


def test_bundle_range_arguments_are_checked_before_anything_is_written(tiny_checkpoint, tmp_path):
    out = tmp_path / "x.safetensors"
    for bad, message in ((["auto"], "--data"), (["-1"], "pixels > 0"), (["nan"], "pixels > 0")):
        result = CliRunner().invoke(
            app, ["checkpoint", "bundle", str(tiny_checkpoint), str(out), "--max-displacement", *bad]
        )
        assert result.exit_code != 0 and message in result.output, result.output
    assert not out.exists()


def test_bundle_sets_the_correction_timing_and_checks_the_settings_together(tiny_checkpoint, tmp_path):
    out = tmp_path / "next.safetensors"
    base = ["checkpoint", "bundle", str(tiny_checkpoint), str(out), "--correction-passes", "1"]
    result = CliRunner().invoke(app, [*base, "--correction-timing", "next"])  # no sub-pixel moves
    assert result.exit_code == 1 and "needs subpixel on" in result.output and not out.exists()
    result = CliRunner().invoke(app, [*base, "--correction-timing", "next", "--subpixel"])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out).config.correction_timing == "next" and "timing next" in result.output
    info = CliRunner().invoke(app, ["checkpoint", "info", str(out)])
    assert "correction timing: next" in info.output


def test_bundle_refuses_an_out_that_is_not_a_model_file_before_loading(tiny_checkpoint, tmp_path):
    out = tmp_path / "bundled.pt"
    result = CliRunner().invoke(app, ["checkpoint", "bundle", str(tiny_checkpoint), str(out)])
    assert result.exit_code == 1
    assert f"OUT {out} must end in .safetensors, e.g. {tmp_path / 'bundled.safetensors'}." in result.output
    assert "lcvg: model" not in result.output  # refused before the source was opened
    assert not out.exists()
