"""``python -m training DATA --out RUN`` and ``torchrun --nproc_per_node N -m training DATA --out RUN``."""

from __future__ import annotations

from .cli import main

main()
