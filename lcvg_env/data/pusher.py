"""The built-in robot-pushing dataset: BAIR-like random pushes rendered by MuJoCo.

BAIR robot pushing (Ebert et al., 2017) films a Sawyer arm making random end-effector motions over a
table of objects. Here gymnasium's Pusher arm does the same in MuJoCo (scene in
:mod:`lcvg_env.data.pusher_scene`): per episode the objects' poses and colours and the table's tint are
random; the arm's end-effector target follows a smooth random path of waypoints, most of them push
strokes that go through an object (approach from above, come down behind it, sweep through it), so
objects really move. Each episode stores the frames and, in ``annotations.npz``:

- ``tip_px`` (T, 2) and ``objects_px`` (T, K, 2): arm tip and object centres as (x, y) pixels;
- ``arm_mask`` (T, H, W) bool: the arm's pixels (MuJoCo segmentation of the arm's geoms);
- ``commands`` (T-1, 3): the end-effector target displacement (dx, dy, dz) in metres between frames,
  what is sent to the arm (as BAIR's actions are end-effector displacements);
- ``tip_world`` (T, 3), ``objects_world`` (T, K, 3), ``joint_pos`` (T, 7), ``object_shapes`` (K,),
  ``object_colours`` (K, 3).

Example::

    from lcvg_env.data.pusher import generate_pusher
    summary = generate_pusher("data/pusher", episodes=64, seed=0, split="train")
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.data.layout import SPLITS, check_split, episode_dirname, update_dataset_info, write_episode
from lcvg_env.data.pusher_scene import NUM_OBJECTS, OBJECT_SHAPES, OBJECT_Z

SHOULDER_XY = np.array([0.0, 0.52])
"""Where the arm's shoulder stands over the table; the workspace is an annulus sector in front of it."""

MOVED_PX = 2.0
"""An episode counts as 'pushing' when some object's centre moves by more than this many pixels."""


@dataclass
class PusherConfig:
    """How to generate the pushing dataset; every field has a working default."""

    episodes: int = 16
    """Number of episodes (videos) to write."""
    frames: int = 30
    """Frames per episode (BAIR: 30)."""
    size: int = 64
    """Square frame size in pixels (BAIR: 64; 256 for the PVG/LCVG high-resolution setting)."""
    seed: int = 0
    """Random seed; the same seed, split and episode index always give the same episode."""
    split: str = "train"
    """Split folder to write: train, val or test (each split draws different episodes)."""
    substeps: int = 5
    """Physics steps (0.01 s) per frame: 20 frames per second of simulated time."""
    push_prob: float = 0.85
    """Share of waypoints that are push strokes through an object (the rest are free moves)."""
    speed: tuple[float, float] = (0.025, 0.04)
    """Range of the end-effector target speed, metres per frame, drawn per episode."""
    lift: float = 0.12
    """Height above pushing height for moves between pushes, metres."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2 to make a video, got {self.frames}.")
        if not 16 <= self.size <= 1024:
            raise ValueError(f"size must be in [16, 1024] pixels, got {self.size}.")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}.")
        if self.substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {self.substeps}.")
        if not 0.0 <= self.push_prob <= 1.0:
            raise ValueError(f"push_prob must be in [0, 1], got {self.push_prob}.")
        if not 0.0 < self.speed[0] <= self.speed[1]:
            raise ValueError(f"speed must be an increasing positive range, got {self.speed}.")


def sample_workspace(rng: np.random.Generator, radius: tuple[float, float], angle_deg: float) -> np.ndarray:
    """A random (x, y) in the reachable annulus sector in front of the shoulder."""
    r = rng.uniform(*radius)
    phi = np.deg2rad(rng.uniform(-angle_deg, angle_deg))
    return SHOULDER_XY + r * np.array([np.sin(phi), -np.cos(phi)])


def place_objects(rng: np.random.Generator, n: int = NUM_OBJECTS) -> np.ndarray:
    """Object centres (n, 2), inside the workspace and apart from each other (rejection sampling)."""
    min_dist = 0.17
    while True:
        placed: list[np.ndarray] = []
        for _ in range(400):
            p = sample_workspace(rng, (0.42, 0.64), 38.0)
            if all(np.linalg.norm(p - q) >= min_dist for q in placed):
                placed.append(p)
                if len(placed) == n:
                    return np.array(placed)
        min_dist *= 0.9  # crowded draw: relax the spacing rather than loop forever


class PushPlanner:
    """Smooth random end-effector path: a queue of waypoints followed with bounded, low-passed speed."""

    def __init__(self, rng: np.random.Generator, cfg: PusherConfig) -> None:
        self.rng, self.cfg = rng, cfg
        self.speed = rng.uniform(*cfg.speed)
        self.z_push = OBJECT_Z + 0.005
        self.z_high = self.z_push + cfg.lift
        self.waypoints: list[np.ndarray] = []
        xy = sample_workspace(rng, (0.42, 0.64), 40.0)
        self.target = np.array([*xy, self.z_push + rng.uniform(0.0, cfg.lift)])
        self.velocity = np.zeros(3)

    def _plan(self, objects_xy: np.ndarray) -> None:
        rng, cfg = self.rng, self.cfg
        if rng.uniform() >= cfg.push_prob:
            xy = sample_workspace(rng, (0.42, 0.66), 42.0)
            self.waypoints.append(np.array([*xy, self.z_push + rng.uniform(0.0, cfg.lift)]))
            return
        obj = objects_xy[rng.integers(len(objects_xy))]
        # Push roughly towards the workspace centre so objects stay reachable and in view.
        centre = SHOULDER_XY + np.array([0.0, -0.53])
        aim = np.arctan2(*(centre - obj)[::-1]) + rng.normal(0.0, 0.9)
        direction = np.array([np.cos(aim), np.sin(aim)])
        start = obj - rng.uniform(0.1, 0.14) * direction
        end = obj + rng.uniform(0.1, 0.25) * direction
        if self.target[2] > self.z_push + 0.03 or np.linalg.norm(self.target[:2] - start) > 0.12:
            self.waypoints.append(np.array([*start, self.z_high]))
        self.waypoints += [np.array([*start, self.z_push]), np.array([*end, self.z_push])]

    def step(self, objects_xy: np.ndarray) -> np.ndarray:
        """Advance the target by one frame and return the command (the target displacement, (3,))."""
        if not self.waypoints:
            self._plan(objects_xy)
        offset = self.waypoints[0] - self.target
        dist = float(np.linalg.norm(offset))
        wanted = offset / max(dist, 1e-9) * min(self.speed, 0.8 * dist)
        self.velocity += 0.5 * (wanted - self.velocity)  # low-pass: smooth turns, no jerks
        self.target = self.target + self.velocity
        if np.linalg.norm(self.waypoints[0] - self.target) < 0.02:
            self.waypoints.pop(0)
        return self.velocity.copy()


def episode_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent generator per (seed, split, episode): episodes do not depend on how many came before."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def check_not_black(frame: np.ndarray, where: str) -> None:
    """Raise if a rendered frame is (nearly) black: the symptom of a lost EGL context (see DATA.md)."""
    if frame.max() < 16:
        raise RuntimeError(
            f"Rendered a black frame ({where}). The GL context was probably lost: make sure no other "
            "mujoco.Renderer is garbage-collected during generation, and that MUJOCO_GL=egl is set."
        )


def rollout(sim: Any, cfg: PusherConfig, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One episode: frames (T, S, S, 3) uint8 and its annotations (see the module docstring)."""
    objects_xy = place_objects(rng)
    planner = PushPlanner(rng, cfg)
    sim.reset(rng, planner.target, objects_xy)
    states, tips, objects, commands = [], [], [], []
    for t in range(cfg.frames):
        if t > 0:
            commands.append(planner.step(sim.objects_world()[:, :2]))
            sim.step(planner.target)
        states.append(sim.data.qpos.copy())
        tips.append(sim.tip_world())
        objects.append(sim.objects_world())
    frames, masks = sim.render(states)
    for t, frame in enumerate(frames):
        check_not_black(frame, f"frame {t}")
    tip_world, objects_world = np.array(tips), np.array(objects)
    colours = np.array([sim.model.geom_rgba[g[0], :3] for g in sim.object_geoms])
    annotations = {
        "tip_px": sim.to_pixels(tip_world).astype(np.float32),
        "objects_px": sim.to_pixels(objects_world).astype(np.float32),
        "arm_mask": masks,
        "commands": np.array(commands, dtype=np.float32),
        "tip_world": tip_world.astype(np.float32),
        "objects_world": objects_world.astype(np.float32),
        "joint_pos": np.array(states, dtype=np.float32)[:, sim.arm_qpos],
        "object_shapes": np.array([name for name, _ in OBJECT_SHAPES]),
        "object_colours": colours.astype(np.float32),
    }
    return frames, annotations


def object_displacement_px(objects_px: np.ndarray) -> float:
    """Largest distance, in pixels, that any object's centre gets from where it started."""
    return float(np.linalg.norm(objects_px - objects_px[:1], axis=-1).max())


def generate_pusher(
    out_dir: str | Path,
    episodes: int = 16,
    frames: int = 30,
    size: int = 64,
    seed: int = 0,
    split: str = "train",
    **options: Any,
) -> dict[str, Any]:
    """Write ``episodes`` pushing episodes to ``out_dir/split/`` and return a summary.

    ``options`` are the other :class:`PusherConfig` fields. The summary holds ``moved_share`` (share of
    episodes where an object moved by more than 2 px), ``fps`` (frames generated and written per second),
    ``mean_arm_area`` (share of the frame covered by the arm) and the arguments.
    """
    cfg = PusherConfig(episodes=episodes, frames=frames, size=size, seed=seed, split=check_split(split), **options)
    from lcvg_env.data.pusher_sim import PusherSim

    split_dir = Path(out_dir) / cfg.split
    split_dir.mkdir(parents=True, exist_ok=True)
    moved, arm_area = [], []
    start = time.perf_counter()
    with PusherSim(cfg.size, cfg.substeps) as sim:
        for i in range(cfg.episodes):
            ep_frames, ann = rollout(sim, cfg, episode_rng(cfg.seed, cfg.split, i))
            write_episode(split_dir, episode_dirname(i), ep_frames, ann)
            moved.append(object_displacement_px(ann["objects_px"]) > MOVED_PX)
            arm_area.append(float(ann["arm_mask"].mean()))
    seconds = time.perf_counter() - start
    summary = {
        "generator": "pusher",
        **asdict(cfg),
        "out_dir": str(out_dir),
        "moved_share": float(np.mean(moved)),
        "mean_arm_area": float(np.mean(arm_area)),
        "seconds": seconds,
        "fps": cfg.episodes * cfg.frames / seconds,
    }
    update_dataset_info(out_dir, cfg.split, summary)
    return summary
