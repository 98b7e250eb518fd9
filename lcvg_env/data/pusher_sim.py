"""MuJoCo simulation and rendering of the pushing scene: the arm follows end-effector targets via IK.

One :class:`PusherSim` owns one model, one ``MjData`` and one ``mujoco.Renderer`` reused for every
episode (rendering is the cost; creating renderers is slow, and a stale one garbage-collected later
releases the current EGL context and makes the next frames black: see ``DATA.md``). Close it explicitly
(or use it as a context manager).

``MUJOCO_GL`` must be set before mujoco is imported; :func:`import_mujoco` defaults it to ``egl``.
"""

from __future__ import annotations

import colorsys
import os
from types import ModuleType
from typing import Any

import numpy as np

from lcvg_env.data.pusher_scene import (
    ARM_JOINTS,
    ARM_ROOT_BODY,
    GRIP_SITE,
    NUM_OBJECTS,
    OBJECT_SHAPES,
    OBJECTS_PER_EPISODE,
    TIP_BODY,
    CameraPose,
    project,
    pusher_mjcf,
)

# Damped least squares weights per arm joint (pan, lift, upper roll, elbow, forearm roll, wrist flex,
# wrist roll): the roll joints are held near zero so that the gripper keeps its look.
_IK_DAMPING = np.array([0.01, 0.01, 5.0, 0.01, 5.0, 0.05, 5.0])
_PITCH_ROW = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0])  # lift + elbow + wrist flex = gripper pitch
_PITCH_TARGET = 0.35  # rad, fingers slightly down so that the gripper bars meet the objects
_PITCH_WEIGHT = 0.1
ARM_GROUP = 2
"""MuJoCo geom and site group of the arm (visible by default, like group 0 of the rest): hiding this group
renders the same state without the arm (arm-free frames, the negatives of the tip detector)."""


def import_mujoco() -> ModuleType:
    """Import mujoco for off-screen rendering, with an install hint when it is missing."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'The pusher dataset needs MuJoCo: pip install "lcvg-env[data]" (or "gymnasium[mujoco]").'
        ) from exc
    return mujoco


def random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` well separated saturated colours (n, 3) in [0, 1]: evenly spaced hues with a random offset."""
    hues = (rng.uniform() + np.arange(n) / n + rng.uniform(-0.04, 0.04, n)) % 1.0
    rng.shuffle(hues)
    sats, vals = rng.uniform(0.55, 0.9, n), rng.uniform(0.65, 0.95, n)
    return np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in zip(hues, sats, vals, strict=True)])


class PusherSim:
    """The pushing scene at one frame size: reset, step towards a gripper target, render, ground truth."""

    def __init__(
        self, size: int = 64, substeps: int = 5, camera: CameraPose | None = None, supersample: int = 2
    ) -> None:
        self.mujoco = mj = import_mujoco()
        self.camera = camera or CameraPose()
        self.size, self.substeps, self.supersample = size, substeps, supersample
        self.model = mj.MjModel.from_xml_string(pusher_mjcf(self.camera))
        self.data = mj.MjData(self.model)
        self._ik_data = mj.MjData(self.model)
        self._render_data = mj.MjData(self.model)
        self.renderer: Any = None
        m = self.model
        self.arm_qpos = np.array([m.joint(j).qposadr[0] for j in ARM_JOINTS])
        self.arm_dofs = np.array([m.joint(j).dofadr[0] for j in ARM_JOINTS])
        self.arm_range = m.jnt_range[[m.joint(j).id for j in ARM_JOINTS]]
        self.grip_site, self.tip_body = m.site(GRIP_SITE).id, m.body(TIP_BODY).id
        self.object_bodies = np.array([m.body(f"obj{i}_{s}").id for i, (s, _) in enumerate(OBJECT_SHAPES)])
        self.object_qpos = np.array([m.joint(f"obj{i}_x").qposadr[0] for i in range(NUM_OBJECTS)])
        self.object_geoms = [np.flatnonzero(m.geom_bodyid == b) for b in self.object_bodies]
        self.active = np.arange(OBJECTS_PER_EPISODE)  # indices into the shape pool on the table now
        arm_body = self._arm_bodies()
        self.arm_geom = arm_body[m.geom_bodyid]
        # Visualization only (physics ignores groups); the grip site would show as a dark dot without the arm.
        m.geom_group[self.arm_geom] = m.site_group[arm_body[m.site_bodyid]] = ARM_GROUP
        self.table_material = m.material("table").id
        self.q_des = np.zeros(len(ARM_JOINTS))
        # Antialiasing by rendering at `supersample` x the size and averaging blocks: with llvmpipe this
        # is about twice as fast as 4x MSAA at 64x64 and looks the same.
        self.renderer = mj.Renderer(m, size * supersample, size * supersample)

    def _arm_bodies(self) -> np.ndarray:
        """Boolean lookup over body ids: True for the arm's bodies (the shoulder link and those under it)."""
        m, root = self.model, self.model.body(ARM_ROOT_BODY).id
        in_arm = np.zeros(m.nbody, dtype=bool)
        for b in range(m.nbody):  # parents come before children in MuJoCo's body order
            in_arm[b] = b == root or (b > 0 and in_arm[m.body_parentid[b]])
        return in_arm

    # ------------------------------------------------------------------ episode set-up
    def reset(
        self, rng: np.random.Generator, tip_start: np.ndarray, object_xy: np.ndarray, active: np.ndarray
    ) -> None:
        """New episode: shapes ``active`` (K,) of the pool placed at ``object_xy`` (K, 2) with random yaw
        and colours, the rest parked out of sight; a table tint; the arm at rest with its gripper centre
        at ``tip_start`` (3,)."""
        m, d = self.model, self.data
        self.mujoco.mj_resetData(m, d)
        self.active = np.asarray(active)
        for i, qadr in enumerate(self.object_qpos):
            d.qpos[qadr : qadr + 2] = (5.0 + i, 5.0)  # parked far from the table's visible part
        for k, i in enumerate(self.active):
            qadr = self.object_qpos[i]
            d.qpos[qadr : qadr + 2] = object_xy[k]
            d.qpos[qadr + 2] = rng.uniform(-np.pi, np.pi)
        for i, c in zip(self.active, random_colours(rng, len(self.active)), strict=True):
            m.geom_rgba[self.object_geoms[i], :3] = c
        tint = rng.uniform(0.8, 1.15) * rng.uniform(0.9, 1.1, 3)
        m.mat_rgba[self.table_material, :3] = np.clip(tint, 0.0, 1.0)
        self.q_des = np.array([0.0, 0.6, 0.0, -1.0, 0.0, -0.3, 0.0])
        for _ in range(100):  # converge the IK from the rest posture, then place the arm there at rest
            self._ik_iteration(tip_start)
        d.qpos[self.arm_qpos] = self.q_des
        d.ctrl[:] = self.q_des
        self.mujoco.mj_forward(m, d)

    # ------------------------------------------------------------------ control
    def _ik_iteration(self, target: np.ndarray) -> None:
        """One damped least-squares step of the joint targets: gripper centre to ``target``, level pitch."""
        mj, m, d = self.mujoco, self.model, self._ik_data
        d.qpos[self.arm_qpos] = self.q_des
        mj.mj_kinematics(m, d)
        mj.mj_comPos(m, d)
        jacp = np.zeros((3, m.nv))
        mj.mj_jacSite(m, d, jacp, None, self.grip_site)
        jac = np.vstack([jacp[:, self.arm_dofs], _PITCH_WEIGHT * _PITCH_ROW])  # (4, 7)
        pitch_err = _PITCH_TARGET - _PITCH_ROW @ self.q_des
        err = np.append(target - d.site_xpos[self.grip_site], _PITCH_WEIGHT * pitch_err)
        dq = np.linalg.solve(jac.T @ jac + np.diag(_IK_DAMPING), jac.T @ err)
        self.q_des = np.clip(self.q_des + dq, self.arm_range[:, 0] + 1e-3, self.arm_range[:, 1] - 1e-3)

    def step(self, target: np.ndarray, ik_iterations: int = 3) -> None:
        """Move the joint targets towards the gripper-centre ``target`` (3,) and advance one frame."""
        for _ in range(ik_iterations):
            self._ik_iteration(target)
        self.data.ctrl[:] = self.q_des
        self.mujoco.mj_step(self.model, self.data, nstep=self.substeps)

    # ------------------------------------------------------------------ observation
    def grip_world(self) -> np.ndarray:
        """Centre of the gripper's U (the point the path steers), world (3,)."""
        return self.data.site_xpos[self.grip_site].copy()

    def tip_world(self) -> np.ndarray:
        """The arm tip (middle of the gripper's back bar), world (3,)."""
        return self.data.xpos[self.tip_body].copy()

    def objects_world(self) -> np.ndarray:
        return self.data.xpos[self.object_bodies[self.active]].copy()  # (K, 3), the objects on the table

    def render(self, states: list[np.ndarray], hide_arm: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Frames (N, S, S, 3) uint8 and arm masks (N, S, S) bool of saved ``qpos`` states.

        ``hide_arm`` renders the same states without the arm's geoms (its masks are then all False).

        All RGB frames are rendered first, then all segmentations: switching the renderer between the
        two modes at every frame costs more than both renders together (measured with llvmpipe).
        The simulation's own state is left untouched (a separate MjData is posed).
        """
        rgb, seg = self._render_passes(states, hide_arm, segmentation=True)
        ids, types = seg[..., 0], seg[..., 1]  # (N, big, big): object id and object type per pixel
        is_geom = (types == int(self.mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)  # int(): numpy compares enums
        arm = np.zeros(ids.shape, dtype=bool)
        arm[is_geom] = self.arm_geom[ids[is_geom]]
        return self._downsample(rgb).round().astype(np.uint8), self._downsample(arm) >= 0.5

    def render_rgb(self, states: list[np.ndarray]) -> np.ndarray:
        """Frames (N, S, S, 3) uint8 of saved ``qpos`` states, as :meth:`render` gives them, without the
        arm masks: one render pass instead of two (the real env, :mod:`lcvg_env.env.mujoco_env`)."""
        rgb, _ = self._render_passes(states, hide_arm=False, segmentation=False)
        return self._downsample(rgb).round().astype(np.uint8)

    def _render_passes(
        self, states: list[np.ndarray], hide_arm: bool, segmentation: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Supersampled RGB (N, big, big, 3) and, if asked, segmentation (N, big, big, 2) of the states."""
        r, mj, d = self.renderer, self.mujoco, self._render_data
        n, big = len(states), self.size * self.supersample
        rgb = np.empty((n, big, big, 3), dtype=np.uint8)
        seg = np.empty((n, big, big, 2) if segmentation else (0, big, big, 2), dtype=np.int32)
        option = mj.MjvOption()
        option.geomgroup[ARM_GROUP] = option.sitegroup[ARM_GROUP] = not hide_arm
        for out in (rgb, seg) if segmentation else (rgb,):
            if out is seg:
                r.enable_segmentation_rendering()
            try:
                for i, qpos in enumerate(states):
                    d.qpos[:] = qpos
                    mj.mj_forward(self.model, d)
                    r.update_scene(d, camera="main", scene_option=option)
                    r.render(out=out[i])
            finally:
                r.disable_segmentation_rendering()
        return rgb, seg

    def _downsample(self, images: np.ndarray) -> np.ndarray:
        """Average ``supersample`` x ``supersample`` blocks: (N, big, big, ...) -> (N, S, S, ...) float32."""
        k, s = self.supersample, self.size
        if k == 1:
            return images.astype(np.float32)
        blocks = images.reshape(len(images), s, k, s, k, *images.shape[3:])
        return blocks.mean(axis=(2, 4), dtype=np.float32)

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to (x, y) pixels of the rendered frame (see :func:`project`)."""
        return project(points, self.camera, self.size, self.size)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the renderer's GL context now rather than at garbage collection (EGL pitfall)."""
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None

    def __enter__(self) -> PusherSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
