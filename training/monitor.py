"""What a run shows and records: a rich progress bar, TensorBoard scalars and image grids, a JSONL log.

Only rank 0 of a data-parallel run monitors; the other ranks get a :class:`Monitor` with
``enabled=False`` that does nothing. TensorBoard files go to ``RUN_DIR/tb`` (``tensorboard --logdir
RUN_DIR``), one line of scalars per logged step to ``RUN_DIR/log.jsonl``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

PROGRESS_KEYS = ("loss", "l1", "vq", "bg", "fg", "bin", "g", "d")


class Monitor:
    """Progress bar + TensorBoard + JSONL for one run."""

    def __init__(self, run_dir: Path, total: int, start: int, enabled: bool = True, progress: bool = True):
        self.enabled, self.run_dir, self.total = enabled, run_dir, total
        self.writer = self._progress = None
        self._last_time, self._last_step, self.it_s = time.perf_counter(), start, 0.0
        if not enabled:
            return
        self._log = (run_dir / "log.jsonl").open("a")
        self.writer = _summary_writer(run_dir / "tb")
        if progress:
            self._start_progress(start)

    def _start_progress(self, start: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]stage {task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[it_s]:.2f} it/s"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
        )
        self._task = self._progress.add_task(
            "train", total=self.total, completed=start, stage=1, it_s=0.0, losses=""
        )
        self._progress.start()

    def step(self, step: int, stage: int, logs: dict[str, float], log_every: int) -> None:
        """After optimizer step ``step`` (1-based count of steps done): update the bar, maybe log scalars."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if step - self._last_step >= log_every or step == self.total:
            self.it_s = (step - self._last_step) / max(now - self._last_time, 1e-9)
            self._last_time, self._last_step = now, step
            self.scalars(step, {**logs, "it_s": self.it_s, "stage": stage})
        if self._progress is not None:
            losses = " ".join(f"{k} {logs[k]:.3g}" for k in PROGRESS_KEYS if k in logs)
            self._progress.update(self._task, completed=step, stage=stage, it_s=self.it_s, losses=losses)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            if self.writer is not None:
                self.writer.add_scalar(f"train/{key}", value, step)
        self._log.write(json.dumps({"step": step, **values}) + "\n")
        self._log.flush()

    def images(self, step: int, rows: dict[str, torch.Tensor], count: int = 4) -> None:
        """A grid: one row per sample, one column per entry of ``rows`` (each (B, C, H, W), [-1, 1] or [0, 1]
        for masks), e.g. frame, mask, foreground, background, prediction, target."""
        if not self.enabled or self.writer is None:
            return
        self.writer.add_image("train/frame_mask_fg_bg_pred_target", image_grid(rows, count), step)

    def print(self, message: str) -> None:
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            print(message, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.stop()
        if self.writer is not None:
            self.writer.close()
        self._log.close()


def image_grid(rows: dict[str, torch.Tensor], count: int = 4) -> torch.Tensor:
    """(3, count * H, len(rows) * W) in [0, 1]: masks (1 channel, [0, 1]) are shown in gray."""
    columns = []
    for value in rows.values():
        v = value[:count].detach().float().cpu()
        v = v.expand(-1, 3, -1, -1) if v.shape[1] == 1 else (v + 1.0) / 2.0  # masks vs frames
        columns.append(torch.cat(list(v.clamp(0, 1)), dim=1))  # (3, count * H, W)
    return torch.cat(columns, dim=2)


def _summary_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print('TensorBoard is not installed: no TensorBoard logs (pip install "lcvg-env[train]").')
        return None
    return SummaryWriter(str(log_dir))
