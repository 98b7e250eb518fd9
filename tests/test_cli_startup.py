"""``lcvg --help`` must start fast: building the command line imports no heavy module (issue 18).

Torch alone takes 1.5-2 s to import on the project's CPU; the commands import it (and MuJoCo,
stable-baselines3, pygame, ...) inside their functions, when they run. Each check runs in a fresh
interpreter, since this test process has long imported torch.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "torch",
    "numpy",
    "gymnasium",
    "mujoco",
    "stable_baselines3",
    "pygame",
    "minari",
    "imageio",
    "PIL",
    "safetensors",
    "rich",
)


def _modules_after(code: str) -> set[str]:
    probe = f"{code}; import sys; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_building_the_cli_does_not_import_torch() -> None:
    subprocess.run(
        [sys.executable, "-c", "import lcvg_env.cli, sys; assert 'torch' not in sys.modules, 'torch'"],
        check=True,
        timeout=120,
    )


def test_help_runs_without_heavy_modules() -> None:
    modules = _modules_after(
        "import sys; sys.argv = ['lcvg', '--help']\n"
        "from lcvg_env.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
