"""Training batches with a resumable position, sharded across data-parallel ranks.

Pairs come from :class:`lcvg_env.data.VideoDataset` (decoded once into memory for datasets that fit).
Every epoch is a fresh permutation drawn from ``seed + epoch`` by PyTorch's ``DistributedSampler``
(which also gives each rank its own equal-sized shard), cut into full batches. The position
``(epoch, batch)`` is part of the resume state, so a resumed run sees exactly the batches that the
uninterrupted run would have seen.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from lcvg_env.data import VideoDataset


class PairBatches:
    """An endless, resumable stream of batches ``{"frame": (B, 3, H, W), "next": (B, 3, H, W)}``."""

    def __init__(self, dataset: VideoDataset, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        per_rank = -(-len(dataset) // world)  # DistributedSampler pads to equal shards
        if per_rank < batch_size:
            raise ValueError(
                f"The dataset {dataset.root} has {len(dataset)} frame pairs: fewer than batch size "
                f"{batch_size} x {world} process(es). Lower --batch-size or add episodes."
            )
        self.dataset, self.batch_size = dataset, batch_size
        self.sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.batches_per_epoch = per_rank // batch_size
        self.epoch, self.batch = 0, 0
        self._order: list[int] | None = None

    def _indices(self) -> list[int]:
        if self._order is None:
            self.sampler.set_epoch(self.epoch)
            self._order = list(iter(self.sampler))
        return self._order

    def next(self) -> dict[str, torch.Tensor]:
        """The next batch; a new epoch starts with a new permutation."""
        if self.batch >= self.batches_per_epoch:
            self.epoch, self.batch, self._order = self.epoch + 1, 0, None
        start = self.batch * self.batch_size
        items = [self.dataset[i] for i in self._indices()[start : start + self.batch_size]]
        self.batch += 1
        return {key: torch.stack([item[key] for item in items]) for key in ("frame", "next")}

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.batch, self._order = int(state["epoch"]), int(state["batch"]), None


def sample_start_frames(dataset: VideoDataset, count: int, seed: int) -> np.ndarray:
    """``count`` real frames (N, H, W, 3) uint8 drawn from the training episodes (checkpoint start bank).

    Frames that begin a pair are sampled, spread over episodes, so the environment resets to states
    the model has seen.
    """
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(dataset), size=min(count, len(dataset)), replace=False)
    frames = []
    for i in sorted(picks.tolist()):
        ep, t = dataset.locate(int(i))
        frames.append(dataset.episode_frames(ep)[t])
    return np.stack(frames)
