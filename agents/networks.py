"""Image features extractors for stable-baselines3 policies on the simulator's frames.

SB3's ``NatureCNN`` (8/4, 4/2, 3/1 convolutions) needs frames of at least 36 px; the test models are
32x32 and the reach task is about *where* things are. :class:`CoordCNN` works for any frame of at
least 16 px: it appends two coordinate channels to the image (CoordConv, Liu et al., NeurIPS 2018:
plain convolutions are poor at mapping positions to coordinates), then halves the resolution until
the smaller side is at most 8 and flattens, so positions survive to the linear layer.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

MIN_SIZE = 16
"""Smallest frame side :class:`CoordCNN` accepts."""


def num_downsamples(height: int, width: int, target: int = 8) -> int:
    """Stride-2 convolutions that bring the smaller side to ``target`` or below (at least one)."""
    side, n = min(height, width), 0
    while side > target or n == 0:
        side, n = (side + 1) // 2, n + 1
    return n


class CoordCNN(BaseFeaturesExtractor):
    """CoordConv CNN: image (B, C, H, W) normalized to [0, 1] by SB3 -> features (B, features_dim).

    ``n`` stride-2 3x3 convolutions (32 then 64 channels, :func:`num_downsamples`), one 3x3
    convolution, flatten, linear, ReLU.
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 256) -> None:
        super().__init__(observation_space, features_dim)
        if not is_image_space(observation_space, check_channels=False, normalized_image=True):
            raise ValueError(f"CoordCNN needs an image observation space (C, H, W), got {observation_space}.")
        c, h, w = observation_space.shape
        if min(h, w) < MIN_SIZE:
            raise ValueError(
                f"CoordCNN needs frames of at least {MIN_SIZE} px, got {h}x{w} (channel-first {c}x{h}x{w})."
            )
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)  # (1, 2, H, W)
        layers: list[nn.Module] = []
        channels = c + 2
        for i in range(num_downsamples(h, w)):
            out = 32 if i == 0 else 64
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.ReLU()]
            channels = out
        layers += [nn.Conv2d(channels, 64, 3, padding=1), nn.ReLU(), nn.Flatten()]
        self.cnn = nn.Sequential(*layers)
        with torch.no_grad():
            n_flatten = self.cnn(torch.zeros(1, c + 2, h, w)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        coords = self.coords.to(observations.dtype).expand(observations.shape[0], -1, -1, -1)  # (B, 2, H, W)
        return self.linear(self.cnn(torch.cat([observations, coords], dim=1)))


class SpatialSoftmax(nn.Module):
    """Feature maps (B, K, H, W) -> the expected (x, y) of each map's softmax, (B, K, 2) in [-1, 1].

    The soft-argmax of Levine, Finn et al. (JMLR 2016), "End-to-end training of deep visuomotor
    policies", Eq. in section 4.1: ``s_k = sum_ij softmax(a_k / T)_ij * (x_ij, y_ij)`` with a learned
    temperature ``T``. Each map becomes a point, so a policy reads *where* things are directly.
    """

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        self.register_buffer("grid", torch.stack([xs.flatten(), ys.flatten()], dim=1), persistent=False)
        self.log_temperature = nn.Parameter(torch.zeros(()))  # (H*W, 2) grid above; T = exp(.)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        b, k, h, w = maps.shape
        weights = torch.softmax(maps.reshape(b, k, h * w) / self.log_temperature.exp(), dim=-1)  # (B, K, H*W)
        return weights @ self.grid.to(weights.dtype)  # (B, K, 2)


class KeypointCNN(BaseFeaturesExtractor):
    """Spatial-softmax keypoints: image (B, C, H, W) in [0, 1] -> (B, 2K) keypoint coordinates.

    One stride-2 and one stride-1 3x3 convolution (16 and 32 channels) at half resolution, a 1x1
    convolution to ``K = features_dim // 2`` maps, :class:`SpatialSoftmax`. About 6 MMAC per 64x64
    frame: PPO's ten epochs of backward passes stay cheap on a CPU, and the policy head sees the
    positions of the foreground and of the goal marker as numbers (the reach task is a difference
    of the two).
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 32) -> None:
        if features_dim < 2 or features_dim % 2:
            raise ValueError(
                f"KeypointCNN needs an even features_dim >= 2 (2 per keypoint), got {features_dim}."
            )
        super().__init__(observation_space, features_dim)
        if not is_image_space(observation_space, check_channels=False, normalized_image=True):
            raise ValueError(
                f"KeypointCNN needs an image observation space (C, H, W), got {observation_space}."
            )
        c, h, w = observation_space.shape
        if min(h, w) < MIN_SIZE:
            raise ValueError(f"KeypointCNN needs frames of at least {MIN_SIZE} px, got {h}x{w}.")
        self.cnn = nn.Sequential(
            nn.Conv2d(c, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, features_dim // 2, 1),
        )
        self.softmax = SpatialSoftmax((h + 1) // 2, (w + 1) // 2)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.cnn(observations)).flatten(1)  # (B, K, 2) -> (B, 2K)


class CombinedExtractor(BaseFeaturesExtractor):
    """For dict observations: an image extractor on every image entry, the other entries flattened,
    all concatenated; entries named in ``skip`` are left out.

    ``features='keypoints'`` skips ``achieved_goal``: the agent reads the goal as a vector and must
    find the foreground in the pixels itself (its :class:`KeypointCNN` points).
    """

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        cnn_output_dim: int = 256,
        cnn: type[BaseFeaturesExtractor] = CoordCNN,
        skip: tuple[str, ...] = (),
    ) -> None:
        super().__init__(observation_space, features_dim=1)
        extractors: dict[str, nn.Module] = {}
        total = 0
        for key, space in observation_space.spaces.items():
            if key in skip:
                continue
            if is_image_space(space, check_channels=False, normalized_image=True) and len(space.shape) == 3:
                extractors[key] = cnn(space, cnn_output_dim)
                total += cnn_output_dim
            else:
                extractors[key] = nn.Flatten()
                total += int(gym.spaces.utils.flatdim(space))
        if not extractors:
            raise ValueError(
                f"No observation entries left to read: all of {list(observation_space.spaces)} skipped."
            )
        self.extractors = nn.ModuleDict(extractors)
        self._features_dim = total

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([net(observations[key]) for key, net in self.extractors.items()], dim=1)


class GoalsExtractor(BaseFeaturesExtractor):
    """For goal dict observations: the non-image entries only (``achieved_goal``, ``desired_goal``),
    flattened and concatenated; the image is ignored. A state-based agent: it still acts in the
    learned simulator, whose world model produces the foreground position it reads."""

    def __init__(self, observation_space: gym.spaces.Dict) -> None:
        keys = [k for k, s in observation_space.spaces.items() if not is_image_space(s, check_channels=False)]
        if not keys:
            raise ValueError(
                "features='goals' needs vector entries in the dict observation (observation='dict')."
            )
        super().__init__(
            observation_space, sum(int(gym.spaces.utils.flatdim(observation_space[k])) for k in keys)
        )
        self.keys = keys

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([observations[k].flatten(1) for k in self.keys], dim=1)


DEFAULT_FEATURES_DIM = {"coord": 256, "nature": 256, "keypoints": 32}
"""Output width of each image features extractor when none is given."""


def resolve_features(observation_space: gym.Space, features: str) -> str:
    """``auto`` -> ``keypoints`` on goal dicts (the setting that learns reach on a CPU in 30 minutes,
    docs/agents.md), ``coord`` on pixels; any other name is returned as is."""
    if features != "auto":
        return features
    return "keypoints" if _is_dict(observation_space) else "coord"


def policy_kwargs(
    observation_space: gym.Space, features: str = "auto", features_dim: int | None = None
) -> dict:
    """SB3 ``policy_kwargs`` for the chosen features extractor (``auto``, ``coord``, ``keypoints``,
    ``nature`` or ``goals``); ``features_dim`` None takes :data:`DEFAULT_FEATURES_DIM`."""
    features = resolve_features(observation_space, features)
    if features_dim is None:
        features_dim = DEFAULT_FEATURES_DIM.get(features, 256)
    if features == "goals":
        if not _is_dict(observation_space):
            raise ValueError(
                "features='goals' reads the goal vectors of a dict observation: pass "
                "--env-kwargs observation=dict (or use features='coord' on pixels)."
            )
        return {"features_extractor_class": GoalsExtractor}
    if features == "keypoints":
        if _is_dict(observation_space):
            return {
                "features_extractor_class": CombinedExtractor,
                "features_extractor_kwargs": {
                    "cnn_output_dim": features_dim,
                    "cnn": KeypointCNN,
                    "skip": ("achieved_goal",),
                },
            }
        return {
            "features_extractor_class": KeypointCNN,
            "features_extractor_kwargs": {"features_dim": features_dim},
        }
    if features == "nature":
        return (
            {"features_extractor_kwargs": {"features_dim": features_dim}}
            if not _is_dict(observation_space)
            else {}
        )
    if _is_dict(observation_space):
        return {
            "features_extractor_class": CombinedExtractor,
            "features_extractor_kwargs": {"cnn_output_dim": features_dim},
        }
    return {"features_extractor_class": CoordCNN, "features_extractor_kwargs": {"features_dim": features_dim}}


def _is_dict(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Dict)
