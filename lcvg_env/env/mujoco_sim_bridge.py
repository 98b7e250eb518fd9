"""The MuJoCo pusher scene driven by image-space actions: the real system behind ``LCVG-PusherMuJoCo-v0``.

The data generator (:mod:`lcvg_env.data.pusher`) moves the IK's target (the centre of the gripper's U)
along scripted paths; here an agent moves it instead. An action is a displacement (dx, dy) in pixels of
the image of the end-effector target, the point where the tip is steered. The camera's calibration
(:func:`~lcvg_env.data.pusher_scene.project`, inverted on a horizontal plane by
:func:`~lcvg_env.data.pusher_scene.unproject`) puts that target on the table; the gripper-centre target
that brings the tip there is kept inside the arm's workspace, and the scene's IK and joint servos track it
for one frame interval, exactly as in the data (:meth:`PusherSim.step`).

Episodes start like the data's: the same draw of objects, colours and table tint
(:func:`~lcvg_env.data.pusher.draw_objects`, :meth:`PusherSim.reset`) and a start point of the workspace
drawn like the data's free moves, with the target at the data's height of moves between pushes.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from lcvg_env.data.pusher import (
    SHOULDER_XY,
    WORKSPACE_HALF_WIDTH,
    WORKSPACE_RADIUS,
    PusherConfig,
    draw_objects,
    sample_workspace,
)
from lcvg_env.data.pusher_scene import ARM_ROOT_BODY, OBJECT_Z, unproject
from lcvg_env.env.config import EnvConfig

PUSH_Z = OBJECT_Z + 0.005
"""Height of the data's push strokes (``PushPlanner.z_push``): the gripper bars meet the objects."""

WORKSPACE_ANGLE = math.radians(30.0)
"""Largest angle of the target from straight ahead of the shoulder: the sector where the data places its
objects (:func:`~lcvg_env.data.pusher.place_objects`), so the arm never reaches sideways or behind."""

START_RADIUS, START_ANGLE = (0.42, 0.64), 25.0
"""Where episodes start: the data's free moves (``PushPlanner._free_point``), metres and degrees."""


_FORKED_AFTER_EGL = False
"""True in a process forked after its parent rendered with MuJoCo's EGL: the inherited EGL display is
unusable there and a new renderer hangs (its driver threads are not copied by the fork)."""


def _note_fork() -> None:
    global _FORKED_AFTER_EGL
    egl = sys.modules.get("mujoco.egl")
    _FORKED_AFTER_EGL = _FORKED_AFTER_EGL or getattr(egl, "EGL_DISPLAY", None) is not None


os.register_at_fork(after_in_child=_note_fork)


def check_renderable() -> None:
    """Raise, rather than hang, where a MuJoCo renderer cannot be made: a fork of an EGL user."""
    if _FORKED_AFTER_EGL and os.environ.get("MUJOCO_GL", "egl") == "egl":
        raise RuntimeError(
            "This process was forked from one that had already rendered with MuJoCo's EGL, which does "
            "not survive a fork (a new renderer would hang). Start worker processes with 'forkserver' or "
            "'spawn', e.g. gymnasium.vector.AsyncVectorEnv(env_fns, context='forkserver')."
        )


@dataclass
class MuJoCoEnvConfig:
    """How the real env is built and scored; defaults match ``LCVG-Pusher-v0``'s reach task."""

    size: int = 64
    """Square frame size in pixels (the bundled ``pusher`` model's)."""
    max_displacement: float | None = None
    """Pixels of the image the end-effector target moves per step at action +-1; None: what
    ``LCVG-Pusher-v0`` uses for the same model (its recorded action range, else 4 px)."""
    success_radius: float | None = None
    """Reach succeeds within this many pixels of the goal; None: 4 px per 64 px (``LCVG-Pusher-v0``'s)."""
    terminate_on_success: bool = True
    """End the episode (``terminated=True``) when the true tip reaches the goal."""
    goal_margin: float = EnvConfig.goal_margin
    """Goals are drawn at least this fraction of the frame size away from the border."""
    observation: str = "pixels"
    """``pixels`` (the frame, goal drawn) or ``dict`` (``image``, ``achieved_goal``, ``desired_goal``)."""
    lift: float = PusherConfig.lift
    """Height of the gripper-centre target above the data's pushing height, metres; at least the data's
    height of moves between pushes (the default), where the gripper passes over the objects low enough to
    nudge one it crosses (lower, an episode could start with the gripper inside an object, which cannot
    be pressed into the table)."""
    substeps: int = PusherConfig.substeps
    """Physics steps (0.01 s) per env step: one frame interval of the data (20 frames per second)."""
    learned_criterion: bool = True
    """Also run the world model's mask network M on each real frame (``info["centroid_px"]`` etc.)."""
    name: str = "pusher"
    """Model resolved for the learned criterion when no checkpoint is given."""
    device: str = "cpu"
    """Torch device of M."""
    dtype: str = EnvConfig.dtype
    """M's weights' dtype, as the learned env runs them (``bfloat16``, ``float32``, ``float16``)."""
    render_scale: int | None = None
    """Window scale of ``render_mode="human"``; None: the largest integer scale up to 512 px."""

    def __post_init__(self) -> None:
        # EnvConfig validates the fields the two envs share, with the same messages.
        EnvConfig(
            success_radius=self.success_radius,
            goal_margin=self.goal_margin,
            observation=self.observation,
            dtype=self.dtype,
            render_scale=self.render_scale,
        )
        if self.max_displacement is not None and not (
            isinstance(self.max_displacement, int | float)
            and math.isfinite(self.max_displacement)
            and self.max_displacement > 0
        ):
            raise ValueError(
                f"max_displacement must be a finite number > 0 or None, got {self.max_displacement!r}."
            )
        if not 16 <= self.size <= 512:
            raise ValueError(f"size must be in [16, 512] pixels, got {self.size!r}.")
        if not PusherConfig.lift <= self.lift <= 0.3:
            raise ValueError(
                f"lift must be in [{PusherConfig.lift}, 0.3] metres above the pushing height, "
                f"got {self.lift!r}."
            )
        if self.substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {self.substeps!r}.")


def clip_to_workspace(xy: np.ndarray) -> np.ndarray:
    """A point (2,) of the workspace sector near ``xy``: radius and angle about the shoulder clipped, then x.

    Clipping x keeps the radius in range: with the angle within 30 degrees, |x| > 0.27 needs r > 0.54.
    """
    offset = np.asarray(xy, dtype=np.float64) - SHOULDER_XY
    r = np.clip(math.hypot(*offset), *WORKSPACE_RADIUS)
    angle = np.clip(math.atan2(offset[0], -offset[1]), -WORKSPACE_ANGLE, WORKSPACE_ANGLE)  # 0: straight ahead
    x, y = SHOULDER_XY + r * np.array([math.sin(angle), -math.cos(angle)])
    return np.array([np.clip(x, -WORKSPACE_HALF_WIDTH, WORKSPACE_HALF_WIDTH), y])


class RealPusher:
    """The pushing scene (one :class:`~lcvg_env.data.pusher_sim.PusherSim`) moved by pixel displacements.

    The end-effector target is where the tip is steered, ``target_px`` in the image. The IK steers the
    gripper's centre, which sits ahead of the tip along the arm (radially from the shoulder's pan axis): the
    target becomes a gripper-centre target that far beyond it, on the plane of the tip's height, so that
    the tip settles on its target wherever the arm points (a pan moves the tip less than the centre).
    """

    def __init__(self, cfg: MuJoCoEnvConfig) -> None:
        from lcvg_env.data.pusher_sim import PusherSim

        check_renderable()
        self.cfg = cfg
        # Supersampling as the data generator renders (2x at 64x64), so frames look like the training data.
        self.sim = PusherSim(cfg.size, cfg.substeps, supersample=2 if cfg.size <= 128 else 1)
        self.z = PUSH_Z + cfg.lift
        self.pan_xy = self.sim.model.body_pos[self.sim.model.body(ARM_ROOT_BODY).id][:2].copy()
        self.target_px = np.zeros(2)

    def reset(self, rng: np.random.Generator) -> None:
        """A new episode drawn from ``rng``: objects, colours and tint as the data's, arm at rest."""
        active, objects_xy = draw_objects(rng)
        start = np.array([*sample_workspace(rng, START_RADIUS, START_ANGLE), self.z])
        self.sim.reset(rng, start, objects_xy, active)
        self.target_px = self.sim.to_pixels(self.sim.tip_world())

    def move(self, delta_px: np.ndarray) -> None:
        """Move the target by ``delta_px`` (2,) image pixels, kept in the workspace; track it one frame."""
        grip_xy = self._grip_for_tip(self.target_px + delta_px)
        clipped = clip_to_workspace(grip_xy)
        if np.allclose(clipped, grip_xy, atol=1e-9):
            self.target_px = self.target_px + delta_px
        else:  # at the workspace's edge: the target is where the clipped centre puts the tip
            behind, tip_z = self._tip_offset()
            tip_xy = clipped - behind * self._radial(clipped)
            self.target_px = self.sim.to_pixels(np.array([*tip_xy, tip_z]))
        self.sim.step(np.array([*clipped, self.z]))

    def reachable(self, point_px: np.ndarray) -> bool:
        """True if the tip can go to ``point_px`` (2,): its gripper-centre target is in workspace."""
        grip_xy = self._grip_for_tip(point_px)
        return bool(np.allclose(clip_to_workspace(grip_xy), grip_xy, atol=1e-9))

    def _grip_for_tip(self, point_px: np.ndarray) -> np.ndarray:
        """The gripper-centre target (2,) that puts the tip at ``point_px`` (calibration inverted on the
        plane of the tip's height; the centre ahead of the tip by the current pose's distance)."""
        behind, tip_z = self._tip_offset()
        size = self.cfg.size
        tip_xy = unproject(point_px, self.sim.camera, size, size, tip_z)[:2]
        return tip_xy + behind * self._radial(tip_xy)

    def _tip_offset(self) -> tuple[float, float]:
        """Horizontal distance from the tip to the gripper's centre (metres) and the tip's height now."""
        tip, grip = self.sim.tip_world(), self.sim.grip_world()
        return math.hypot(*(grip - tip)[:2]), float(tip[2])

    def _radial(self, xy: np.ndarray) -> np.ndarray:
        """Unit vector (2,) from the shoulder's pan axis towards ``xy``."""
        radial = xy - self.pan_xy
        return radial / max(float(np.linalg.norm(radial)), 1e-9)

    def frame(self) -> np.ndarray:
        """The current frame (S, S, 3) uint8, rendered like the data's."""
        return self.sim.render_rgb([self.sim.data.qpos.copy()])[0]

    def tip_px(self) -> np.ndarray:
        """The true arm tip (the data's ``tip_px``) in pixels (x, y), float32 (2,)."""
        return self.sim.to_pixels(self.sim.tip_world()).astype(np.float32)

    def objects_px(self) -> np.ndarray:
        """Object centres (K, 2) in pixels, float32 (the data's ``objects_px``)."""
        return self.sim.to_pixels(self.sim.objects_world()).astype(np.float32)

    def close(self) -> None:
        """Release the renderer's GL context (see :class:`~lcvg_env.data.pusher_sim.PusherSim`)."""
        self.sim.close()
