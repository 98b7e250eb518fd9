"""The built-in robot-pushing dataset: BAIR-like random pushes rendered by MuJoCo.

BAIR robot pushing (Ebert et al., 2017) films a Sawyer arm making random end-effector motions over a
table of objects. Here gymnasium's Pusher arm does the same in MuJoCo (scene in
:mod:`lcvg_env.data.pusher_scene`): per episode the objects' poses and colours and the table's tint are
random; the arm's end-effector target follows a smooth random path of waypoints, most of them push
strokes that go through an object (approach from above, come down behind it, sweep through it), so
objects really move. Each episode stores the frames and, in ``annotations.npz``:

- ``tip_px`` (T, 2) and ``objects_px`` (T, K, 2): arm tip (the middle of the gripper's back bar, the
  pushing surface, always on the arm) and object centres as (x, y) pixels;
- ``arm_mask`` (T, H, W) bool: the arm's pixels (MuJoCo segmentation of the arm's geoms);
- ``commands`` (T-1, 3): displacement (dx, dy, dz) in metres, between frames, of the end-effector
  target (the centre of the gripper's U) sent to the arm's IK, as BAIR's actions are end-effector
  displacements;
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
from lcvg_env.data.pusher_scene import NUM_OBJECTS, OBJECT_SHAPES, OBJECT_Z, OBJECTS_PER_EPISODE, TRAY_INNER

SHOULDER_XY = np.array([0.0, 0.52])
"""Where the arm's shoulder stands over the table; the workspace is an annulus sector in front of it."""

PUSH_BOX = (np.array([-0.2, -0.1]), np.array([0.2, 0.16]))
"""Push strokes end inside this (x, y) box: the part of the table the camera sees well."""

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
    hide_arm: bool = False
    """Render the same episodes without the arm (same physics, ``tip_px`` and commands; ``arm_mask`` all
    False): arm-free frames, the negatives of the tip detector (:mod:`lcvg_env.metrics.detector`)."""

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


def place_objects(rng: np.random.Generator, n: int = OBJECTS_PER_EPISODE) -> np.ndarray:
    """Object centres (n, 2), inside the workspace and apart from each other (rejection sampling)."""
    min_dist = 0.17
    while True:
        placed: list[np.ndarray] = []
        for _ in range(400):
            p = sample_workspace(rng, (0.42, 0.62), 30.0)
            inside = (TRAY_INNER[0] + 0.09 <= p[0] <= TRAY_INNER[2] - 0.09) and p[1] >= TRAY_INNER[1] + 0.09
            if inside and all(np.linalg.norm(p - q) >= min_dist for q in placed):
                placed.append(p)
                if len(placed) == n:
                    return np.array(placed)
        min_dist *= 0.9  # crowded draw: relax the spacing rather than loop forever


CLEARANCE = 0.2
"""The gripper (a 0.26 m wide U) only comes down where no object centre is closer than this: objects slide
but cannot be pressed into the table, so a gripper lowered onto one would sink into it."""


WORKSPACE_RADIUS = (0.4, 0.66)
"""The gripper's reach, metres from the shoulder."""
WORKSPACE_HALF_WIDTH = 0.27
"""Largest |x| of the gripper: beyond it the arm leaves the camera's view."""
WORKSPACE_Y_MIN = -0.15
"""Smallest y of the gripper (the side of the camera)."""


def in_workspace(xy: np.ndarray) -> bool:
    """True if the gripper can reach ``xy`` and stays in the camera's view there."""
    r = float(np.linalg.norm(xy - SHOULDER_XY))
    low, high = WORKSPACE_RADIUS
    return low <= r <= high and abs(xy[0]) <= WORKSPACE_HALF_WIDTH and xy[1] >= WORKSPACE_Y_MIN


def is_clear(xy: np.ndarray, objects_xy: np.ndarray) -> bool:
    """True if the gripper can be lowered at ``xy`` without landing on an object."""
    return bool(np.all(np.linalg.norm(objects_xy - xy, axis=-1) >= CLEARANCE))


class PushPlanner:
    """Smooth random end-effector path: a queue of waypoints followed with bounded, low-passed speed."""

    def __init__(self, rng: np.random.Generator, cfg: PusherConfig, objects_xy: np.ndarray) -> None:
        self.rng, self.cfg = rng, cfg
        self.speed = rng.uniform(*cfg.speed)
        self.z_push = OBJECT_Z + 0.005
        self.z_high = self.z_push + cfg.lift
        self.waypoints: list[np.ndarray] = []
        self.target = self._free_point(objects_xy)
        self.velocity = np.zeros(3)

    def _free_point(self, objects_xy: np.ndarray) -> np.ndarray:
        """A random point of the workspace; low only where the gripper can come down."""
        xy = sample_workspace(self.rng, (0.42, 0.64), 25.0)
        low = is_clear(xy, objects_xy) and self.rng.uniform() < 0.5
        z = self.z_push if low else self.z_push + self.rng.uniform(0.6, 1.0) * self.cfg.lift
        return np.array([*xy, z])

    def _push_stroke(self, objects_xy: np.ndarray) -> list[np.ndarray] | None:
        """Waypoints of a push through a random object: above the start, down, through; None if no room."""
        rng = self.rng
        k = rng.integers(len(objects_xy))
        obj, others = objects_xy[k], np.delete(objects_xy, k, axis=0)
        centre = SHOULDER_XY + np.array([0.0, -0.53])  # push roughly towards the middle: objects stay in view
        for _ in range(12):
            aim = np.arctan2(*(centre - obj)[::-1]) + rng.normal(0.0, 0.8)
            direction = np.array([np.cos(aim), np.sin(aim)])
            start = obj - rng.uniform(CLEARANCE, CLEARANCE + 0.04) * direction
            if in_workspace(start) and is_clear(start, others):
                break
        else:
            return None
        end = np.clip(obj + rng.uniform(0.06, 0.16) * direction, *PUSH_BOX)
        path = []
        if self.target[2] > self.z_push + 0.01 or np.linalg.norm(self.target[:2] - start) > 0.1:
            path.append(np.array([*start, self.z_high]))
        return [*path, np.array([*start, self.z_push]), np.array([*end, self.z_push])]

    def _plan(self, objects_xy: np.ndarray) -> None:
        stroke = self._push_stroke(objects_xy) if self.rng.uniform() < self.cfg.push_prob else None
        self.waypoints += stroke if stroke is not None else [self._free_point(objects_xy)]

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


def draw_objects(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An episode's objects: which shapes of the pool are on the table (K,), sorted, and where (K, 2)."""
    active = np.sort(rng.choice(NUM_OBJECTS, size=OBJECTS_PER_EPISODE, replace=False))
    return active, place_objects(rng)


def rollout(
    sim: Any, cfg: PusherConfig, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One episode: frames (T, S, S, 3) uint8 and its annotations (see the module docstring)."""
    active, objects_xy = draw_objects(rng)
    planner = PushPlanner(rng, cfg, objects_xy)
    sim.reset(rng, planner.target, objects_xy, active)
    states, tips, objects, commands = [], [], [], []
    for t in range(cfg.frames):
        if t > 0:
            commands.append(planner.step(sim.objects_world()[:, :2]))
            sim.step(planner.target)
        states.append(sim.data.qpos.copy())
        tips.append(sim.tip_world())
        objects.append(sim.objects_world())
    frames, masks = sim.render(states, hide_arm=cfg.hide_arm)
    for t, frame in enumerate(frames):
        check_not_black(frame, f"frame {t}")
    tip_world, objects_world = np.array(tips), np.array(objects)
    colours = np.array([sim.model.geom_rgba[sim.object_geoms[i][0], :3] for i in active])
    annotations = {
        "tip_px": sim.to_pixels(tip_world).astype(np.float32),
        "objects_px": sim.to_pixels(objects_world).astype(np.float32),
        "arm_mask": masks,
        "commands": np.array(commands, dtype=np.float32),
        "tip_world": tip_world.astype(np.float32),
        "objects_world": objects_world.astype(np.float32),
        "joint_pos": np.array(states, dtype=np.float32)[:, sim.arm_qpos],
        "object_shapes": np.array([OBJECT_SHAPES[i][0] for i in active]),
        "object_colours": colours.astype(np.float32),
    }
    return frames, annotations


def command_pixels(
    annotations: dict[str, np.ndarray], where: Any, size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """An episode's commands and the true tip's motion in pixels of a ``size`` frame (default the data's):
    ``(commands (T-1, 2), motions (T-1, 2))``, step t from frame t to t + 1.

    A command is the end-effector target's displacement (``commands``, metres) seen by the camera at the
    tip: project(tip + command) - project(tip), the (dx, dy) of the image by which the step asked the arm
    to move. The motion is the difference of consecutive ``tip_px``. Fitted against each other by
    :func:`lcvg_env.control.actuation.fit_actuator` (the arm's response to its commands).
    """
    from lcvg_env.data.pusher_scene import CameraPose, project

    missing = [k for k in ("commands", "tip_world", "tip_px", "arm_mask") if k not in annotations]
    if missing:
        raise ValueError(
            f"{where}: the annotations lack {missing}; the arm's response is fitted on the built-in pusher "
            "data (`lcvg data pusher`), whose episodes record the commands sent to the arm."
        )
    stored = int(annotations["arm_mask"].shape[-1])
    tip_world = annotations["tip_world"].astype(np.float64)
    commands = annotations["commands"].astype(np.float64)
    if len(commands) != len(tip_world) - 1:
        raise ValueError(
            f"{where}: {len(commands)} commands for {len(tip_world)} frames; expected one fewer."
        )
    camera = CameraPose()
    before = project(tip_world[:-1], camera, stored, stored)
    scale = (size or stored) / stored
    commands_px = (project(tip_world[:-1] + commands, camera, stored, stored) - before) * scale
    motions_px = np.diff(annotations["tip_px"].astype(np.float64), axis=0) * scale
    return commands_px, motions_px


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
    episodes where an object moved by more than 2 px), ``fps`` (frames simulated, rendered, checked and
    written per second, after the one-off set-up: ``setup_seconds``), ``mean_arm_area`` (share of the
    frame covered by the arm) and the arguments.
    """
    cfg = PusherConfig(
        episodes=episodes, frames=frames, size=size, seed=seed, split=check_split(split), **options
    )
    from lcvg_env.data.pusher_sim import PusherSim

    split_dir = Path(out_dir) / cfg.split
    split_dir.mkdir(parents=True, exist_ok=True)
    moved, arm_area = [], []
    setup_start = time.perf_counter()
    # Supersampled antialiasing costs 4x the pixels: worth it at BAIR's 64x64, not at 256x256.
    with PusherSim(cfg.size, cfg.substeps, supersample=2 if cfg.size <= 128 else 1) as sim:
        start = time.perf_counter()  # fps counts generation + writing, not the one-off model/GL set-up
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
        "setup_seconds": start - setup_start,
        "fps": cfg.episodes * cfg.frames / seconds,
    }
    update_dataset_info(out_dir, cfg.split, summary)
    return summary
