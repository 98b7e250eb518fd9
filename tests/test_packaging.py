"""Packaging (issue 18): the applications install under lcvg_* names and reach ``lcvg`` by entry points."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _packages_on_disk() -> set[str]:
    """Every folder with an __init__.py, named as it installs (training/ -> lcvg_training, ...)."""
    folders = {folder: name for name, folder in SETUPTOOLS["package-dir"].items()}
    names = set()
    for init in (ROOT / "lcvg_env").rglob("__init__.py"):
        names.add(".".join(init.parent.relative_to(ROOT).parts))
    for folder, name in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            names.add(".".join((name, *init.parent.relative_to(ROOT / folder).parts)))
    return names


def test_every_package_folder_is_installed_and_no_generic_name() -> None:
    assert set(SETUPTOOLS["packages"]) == _packages_on_disk()
    assert not {"training", "agents"} & {p.split(".")[0] for p in SETUPTOOLS["packages"]}


def test_library_does_not_import_the_applications_by_name() -> None:
    imports = re.compile(
        r"^\s*(from|import) (lcvg_)?(training|agents)\b|[\"'](lcvg_)?(training|agents)\.\w", re.M
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "lcvg_env").rglob("*.py")
        if imports.search(path.read_text())
    ]
    assert offenders == []


def test_entry_points_mount_train_and_agent() -> None:
    from typer.testing import CliRunner

    from lcvg_env.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert " train " in result.output and " agent " in result.output
    for command in (["train", "--help"], ["agent", "train", "--help"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output and "<int>" not in result.output


def test_python_m_training_runs_from_the_checkout() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "training", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "DATA_DIR" in out.stdout and "--preset" in out.stdout
