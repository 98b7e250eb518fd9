from __future__ import annotations

import json

from typer.testing import CliRunner

from lcvg_env.cli import app


def test_presets_json_lists_every_preset_with_counts():
    result = CliRunner().invoke(app, ["presets", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) >= {"bair-256", "tennis-96x256", "tiny-64"}
    assert rows["bair-256"]["height"] == 256 and rows["tennis-96x256"]["height"] == 96
    assert abs(rows["bair-256"]["generator_params"] - 30.32e6) / 30.32e6 < 0.01
    assert abs(rows["bair-256"]["discriminator_params"] - 2.77e6) / 2.77e6 < 0.01
    for r in rows.values():
        assert set(r) >= {"name", "height", "width", "generator_params", "discriminator_params"}


def test_presets_table_prints():
    result = CliRunner().invoke(app, ["presets"])
    assert result.exit_code == 0
    assert "tiny-64" in result.output


def test_presets_table_keeps_every_name_whole_in_a_narrow_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["presets"])
    assert result.exit_code == 0
    assert "atari-tennis-64" in result.output  # was cut to "atari-tennis…"
