"""Training batches with a resumable position, sharded across data-parallel ranks.

Pairs come from :class:`lcvg_env.data.VideoDataset` (decoded once into memory for datasets that fit).
Every epoch is a fresh permutation drawn from ``seed + epoch`` by PyTorch's ``DistributedSampler``
(which also gives each rank its own equal-sized shard), cut into full batches. The position
``(epoch, batch)`` is part of the resume state, so a resumed run sees exactly the batches that the
uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from lcvg_env.data import VideoDataset
from lcvg_env.data.dataset import to_tensor


class PairBatches:
    """An endless, resumable stream of batches ``{"frame": (B, 3, H, W), "next": (B, 3, H, W)}``.

    With ``history=K > 0`` each batch also carries the K real frames before x^t, for rollout training
    (``TrainConfig.rollout_steps``): ``"history"`` (B, K, 3, H, W), frames t - K k ... t - k of the episode
    (k = frame_skip), and ``"history_len"`` (B,), how many of them exist (frames before the episode's
    start repeat its first frame and are not counted).

    With ``max_skip=m`` each pair's gap k is drawn uniformly in ``min_skip..m`` (``min_skip`` defaults to
    the dataset's ``frame_skip``; 0 makes still pairs, x^t as its own target), capped at the episode's
    last frame, and ``"next"`` is x^{t+k}; the history's frames are then k apart as well (none for k = 0),
    and ``"skip"`` (B,) holds each pair's k. The draw depends only on the seed, the rank and the batch's
    position, so a resumed run draws the same gaps; ``min_skip`` may be changed between batches (the
    trainer keeps still pairs out of stage 1, whose mask terms need a change between the frames).

    With ``ahead=h > 0`` each batch also carries ``"ahead"`` (B, 3, H, W), frame t + h of the episode (its
    last frame where the episode ends sooner), for stage 1's mask terms (``TrainConfig.mask_horizon``);
    ``ahead`` may be changed between batches (the trainer sets it to 0 for stage 2, which does not use it).
    """

    def __init__(
        self,
        dataset: VideoDataset,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        history: int = 0,
        ahead: int = 0,
        max_skip: int | None = None,
        min_skip: int | None = None,
    ):
        per_rank = -(-len(dataset) // world)  # DistributedSampler pads to equal shards
        if per_rank < batch_size:
            raise ValueError(
                f"The dataset {dataset.root} has {len(dataset)} frame pairs: fewer than batch size "
                f"{batch_size} x {world} process(es). Lower --batch-size or add episodes."
            )
        if history < 0 or ahead < 0:
            raise ValueError(f"history and ahead must be >= 0, got {history} and {ahead}.")
        min_skip = dataset.frame_skip if min_skip is None else min_skip
        if max_skip is not None and not 0 <= min_skip <= max_skip:
            raise ValueError(
                f"need 0 <= min_skip <= max_skip, got min_skip {min_skip} and max_skip {max_skip}."
            )
        if max_skip is None and min_skip != dataset.frame_skip:
            raise ValueError(
                "min_skip needs max_skip: without it every pair is the dataset's frame_skip apart."
            )
        self.dataset, self.batch_size, self.history, self.ahead = dataset, batch_size, history, ahead
        self.min_skip, self.max_skip, self.seed, self.rank = min_skip, max_skip, seed, rank
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
        indices = self._indices()[start : start + self.batch_size]
        skips = self._skips(indices)
        self.batch += 1
        if self.max_skip is None:
            items = [self.dataset[i] for i in indices]
            batch = {key: torch.stack([item[key] for item in items]) for key in ("frame", "next")}
        else:
            pairs = self._frames_at(indices, lambda t, _, k: [t, t + k], skips)  # (B, 2, 3, H, W)
            batch = {"frame": pairs[:, 0], "next": pairs[:, 1], "skip": torch.tensor(skips)}
        if self.history:
            batch.update(self._history(indices, skips))
        if self.ahead:
            batch["ahead"] = self._ahead(indices)
        return batch

    def _skips(self, indices: list[int]) -> list[int]:
        """Each pair's gap k: the dataset's ``frame_skip``, or drawn in ``min_skip..max_skip`` (capped at
        the episode's last frame) from (seed, rank, epoch, batch)."""
        if self.max_skip is None:
            return [self.dataset.frame_skip] * len(indices)
        rng = np.random.default_rng([self.seed, self.rank, self.epoch, self.batch])
        drawn = rng.integers(self.min_skip, self.max_skip + 1, size=len(indices)).tolist()
        skips = []
        for i, k in zip(indices, drawn, strict=True):
            ep, t = self.dataset.locate(i)
            skips.append(min(k, self.dataset.episodes[ep].num_frames - 1 - t))  # t + frame_skip exists
        return skips

    def _frames_at(
        self,
        indices: list[int],
        times: Callable[[int, int, int], list[int]],
        skips: list[int] | None = None,
    ) -> torch.Tensor:
        """Frames ``times(t, T, k)`` of each pair's episode, (B, N, 3, H, W); t is the pair's first frame,
        T the episode's length and k the pair's gap (``skips``, default the dataset's ``frame_skip``)."""
        skips = [self.dataset.frame_skip] * len(indices) if skips is None else skips
        clips = []
        for i, k in zip(indices, skips, strict=True):
            ep, t = self.dataset.locate(i)
            video = self.dataset.episode_frames(ep)
            clips.append(torch.stack([to_tensor(video[u]) for u in times(t, len(video), k)]))
        return torch.stack(clips)

    def _history(self, indices: list[int], skips: list[int]) -> dict[str, torch.Tensor]:
        n = self.history

        def before(t: int, _: int, k: int) -> list[int]:
            return [max(t - j * k, 0) for j in range(n, 0, -1)]  # oldest first

        lengths = [
            min(n, self.dataset.locate(i)[1] // k) if k else 0 for i, k in zip(indices, skips, strict=True)
        ]
        return {"history": self._frames_at(indices, before, skips), "history_len": torch.tensor(lengths)}

    def _ahead(self, indices: list[int]) -> torch.Tensor:
        def later(t: int, length: int, _: int) -> list[int]:
            return [min(t + self.ahead, length - 1)]

        return self._frames_at(indices, later)[:, 0]  # (B, 3, H, W)

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
