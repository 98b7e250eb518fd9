"""The MuJoCo scene behind the built-in robot-pushing dataset (a BAIR-like table top).

The arm is gymnasium's Pusher arm (``gymnasium/envs/mujoco/assets/pusher_v5.xml``, 7 hinge joints), turned
to reach along -y, with thicker gripper bars so it stays visible at 64x64, position servos instead of
torque motors (the scripted pushes in :mod:`lcvg_env.data.pusher` send joint targets), and a scene of our
own: a large textured table, several objects of different shapes, and one fixed oblique camera looking at
the table from the side opposite the robot, as in BAIR, so the arm enters from the top of the frame.

Nothing here imports mujoco: this module only builds the MJCF text and does camera geometry with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TABLE_Z = -0.22
"""Height of the table surface (the Pusher model's table)."""

TRAY_INNER = (-0.27, -0.17, 0.27, 0.42)
"""(x_min, y_min, x_max, y_max) inside the tray's low walls, which keep objects in the camera's view
(BAIR's objects lie in a bin too). The walls stop objects only: the gripper passes over them."""
TRAY_WALL_HEIGHT = 0.035

OBJECT_HALF_HEIGHT = 0.045
OBJECT_Z = TABLE_Z + OBJECT_HALF_HEIGHT

ARM_JOINTS: tuple[str, ...] = (
    "r_shoulder_pan_joint",
    "r_shoulder_lift_joint",
    "r_upper_arm_roll_joint",
    "r_elbow_flex_joint",
    "r_forearm_roll_joint",
    "r_wrist_flex_joint",
    "r_wrist_roll_joint",
)

ARM_TEXTURE_SIZE = 6
"""The arm's red and grey links carry a mottled two-tone texture: random dark marks on a cube texture of
this many texels per face. A uniformly coloured link's interior does not change when the link moves, so a
mask learned from motion cannot see it (the first built-in model, on a plain arm, covered only the link's
edges and the gripper); real arms carry joints, labels and cables that make their motion visible."""

ARM_ROOT_BODY = "r_shoulder_pan_link"
GRIP_SITE = "grip"
"""Centre of the gripper's U: the point the scripted path steers (objects end up inside the U)."""
TIP_BODY = "tips_arm"
"""The arm tip reported as ground truth: the middle of the gripper's back bar, always on the arm."""

# The pool of object shapes: (name, MJCF geoms). Each is a body on the table that slides in x, y and
# turns about z. Every episode puts OBJECTS_PER_EPISODE of them on the table (the others are parked out of
# sight), so shapes as well as colours and poses change from one episode to the next.
OBJECT_SHAPES: tuple[tuple[str, str], ...] = (
    ("box", '<geom type="box" size="0.055 0.055 {h}"/>'),
    ("cylinder", '<geom type="cylinder" size="0.06 {h}"/>'),
    ("bar", '<geom type="box" size="0.095 0.035 {h}"/>'),
    (
        "ell",
        '<geom type="box" size="0.075 0.03 {h}" pos="0 -0.045 0"/>'
        '<geom type="box" size="0.03 0.06 {h}" pos="-0.045 0.015 0"/>',
    ),
    ("triangle", '<geom type="mesh" mesh="prism"/>'),
    ("capsule", '<geom type="capsule" size="{h}" fromto="-0.06 0 0 0.06 0 0"/>'),
    ("disc", '<geom type="cylinder" size="0.08 {h}"/>'),
)
NUM_OBJECTS = len(OBJECT_SHAPES)
OBJECTS_PER_EPISODE = 4


@dataclass(frozen=True)
class CameraPose:
    """A fixed camera given like MuJoCo's free camera (lookat, distance, azimuth, elevation in degrees)."""

    lookat: tuple[float, float, float] = (0.0, 0.13, TABLE_Z)
    distance: float = 0.9
    azimuth: float = 90.0
    elevation: float = -58.0
    fovy: float = 45.0

    def frame(self) -> tuple[np.ndarray, np.ndarray]:
        """Camera position (3,) and rotation (3, 3); columns: the camera's x (right), y (up), z (back)."""
        az, el = np.deg2rad(self.azimuth), np.deg2rad(self.elevation)
        forward = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        pos = np.asarray(self.lookat) - self.distance * forward
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        return pos, np.stack([right, up, -forward], axis=1)


def project(points: np.ndarray, camera: CameraPose, height: int, width: int) -> np.ndarray:
    """World points (..., 3) to pixel coordinates (..., 2) as (x, y), origin at the top-left image corner.

    Continuous pixel coordinates: the pixel in row i, column j covers [j, j+1) x [i, i+1), so its centre
    is (j + 0.5, i + 0.5). This is the convention of every ``*_px`` annotation in this package.
    """
    pos, rot = camera.frame()
    cam = (np.asarray(points, dtype=np.float64) - pos) @ rot  # (..., 3) in camera axes
    depth = -cam[..., 2]
    focal = 0.5 * height / np.tan(np.deg2rad(camera.fovy) / 2.0)
    x = 0.5 * width + focal * cam[..., 0] / depth
    y = 0.5 * height - focal * cam[..., 1] / depth
    return np.stack([x, y], axis=-1)


def unproject(pixels: np.ndarray, camera: CameraPose, height: int, width: int, z: float) -> np.ndarray:
    """Pixels (..., 2) (x, y) to the world points (..., 3) on the horizontal plane at height ``z`` that
    :func:`project` maps to them: the inverse of the projection restricted to that plane."""
    pos, rot = camera.frame()
    focal = 0.5 * height / np.tan(np.deg2rad(camera.fovy) / 2.0)
    px = np.asarray(pixels, dtype=np.float64)
    ray_cam = np.stack(  # (..., 3): the viewing ray in camera axes at depth 1 (the camera looks along -z)
        [(px[..., 0] - 0.5 * width) / focal, (0.5 * height - px[..., 1]) / focal, -np.ones(px.shape[:-1])],
        axis=-1,
    )
    ray = ray_cam @ rot.T  # (..., 3) in world axes
    scale = (z - pos[2]) / ray[..., 2]
    return pos + scale[..., None] * ray


def _camera_xml(camera: CameraPose) -> str:
    pos, rot = camera.frame()
    axes = " ".join(f"{v:.6f}" for v in np.concatenate([rot[:, 0], rot[:, 1]]))
    p = " ".join(f"{v:.6f}" for v in pos)
    return f'<camera name="main" mode="fixed" pos="{p}" xyaxes="{axes}" fovy="{camera.fovy}"/>'


def _prism_vertices() -> str:
    """A triangular prism (side about 0.13 m) as mesh vertices: bottom triangle, then top triangle."""
    corners = [(0.075, 0.0), (-0.0375, 0.065), (-0.0375, -0.065)]
    pts = [(x, y, z) for z in (-OBJECT_HALF_HEIGHT, OBJECT_HALF_HEIGHT) for x, y in corners]
    return " ".join(f"{v:g}" for p in pts for v in p)


def _tray_xml() -> str:
    x0, y0, x1, y1 = TRAY_INNER
    t, h = 0.015, TRAY_WALL_HEIGHT / 2  # wall half thickness and half height
    z, cx, cy, hx, hy = TABLE_Z + h, (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 + 2 * t, (y1 - y0) / 2
    walls = [(cx, y0 - t, hx, t), (cx, y1 + t, hx, t), (x0 - t, cy, t, hy), (x1 + t, cy, t, hy)]
    return "\n".join(
        f'<geom class="tray" pos="{x:g} {y:g} {z:g}" size="{sx:g} {sy:g} {h:g}"/>' for x, y, sx, sy in walls
    )


def _objects_xml() -> str:
    bodies = []
    for i, (name, geoms) in enumerate(OBJECT_SHAPES):
        bodies.append(
            f'<body name="obj{i}_{name}" pos="0 0 {OBJECT_Z}" childclass="object">'
            f'<joint name="obj{i}_x" type="slide" axis="1 0 0"/>'
            f'<joint name="obj{i}_y" type="slide" axis="0 1 0"/>'
            f'<joint name="obj{i}_yaw" type="hinge" axis="0 0 1"/>'
            + geoms.format(h=OBJECT_HALF_HEIGHT)
            + "</body>"
        )
    return "\n".join(bodies)


_ARM = """
<body name="r_shoulder_pan_link" pos="0 0.62 0" euler="0 0 -1.5708">
  <geom name="e1" type="sphere" material="dark" pos="-0.06 0.05 0.2" size="0.05"/>
  <geom name="e2" type="sphere" material="dark" pos=" 0.06 0.05 0.2" size="0.05"/>
  <geom name="sp" type="capsule" material="red" fromto="0 0 -0.4 0 0 0.2" size="0.1"/>
  <joint name="r_shoulder_pan_joint" axis="0 0 1" range="-2.2854 1.714602" damping="1.0"/>
  <body name="r_shoulder_lift_link" pos="0.1 0 0">
    <geom name="sl" type="capsule" material="dark" fromto="0 -0.1 0 0 0.1 0" size="0.1"/>
    <joint name="r_shoulder_lift_joint" axis="0 1 0" range="-0.5236 1.3963" damping="1.0"/>
    <body name="r_upper_arm_roll_link">
      <geom name="uar" type="capsule" material="grey" fromto="-0.1 0 0 0.1 0 0" size="0.02"/>
      <joint name="r_upper_arm_roll_joint" axis="1 0 0" range="-1.5 1.7" damping="0.1"/>
      <body name="r_upper_arm_link">
        <geom name="ua" type="capsule" material="red" fromto="0 0 0 0.4 0 0" size="0.065"/>
        <body name="r_elbow_flex_link" pos="0.4 0 0">
          <geom name="ef" type="capsule" material="dark" fromto="0 -0.03 0 0 0.03 0" size="0.07"/>
          <joint name="r_elbow_flex_joint" axis="0 1 0" range="-2.3213 0" damping="0.1"/>
          <body name="r_forearm_roll_link">
            <geom name="fr" type="capsule" material="grey" fromto="-0.1 0 0 0.1 0 0" size="0.02"/>
            <joint name="r_forearm_roll_joint" axis="1 0 0" range="-1.5 1.5" damping=".1"/>
            <body name="r_forearm_link">
              <geom name="fa" type="capsule" material="grey" fromto="0 0 0 0.291 0 0" size="0.055"/>
              <body name="r_wrist_flex_link" pos="0.321 0 0">
                <geom name="wf" type="capsule" material="dark" fromto="0 -0.02 0 0 0.02 0" size="0.03"/>
                <joint name="r_wrist_flex_joint" axis="0 1 0" range="-1.094 0" damping=".1"/>
                <body name="r_wrist_roll_link">
                  <joint name="r_wrist_roll_joint" axis="1 0 0" range="-1.5 1.5" damping="0.1"/>
                  <body name="tips_arm">
                    <site name="grip" pos="0.06 0 0" size="0.01"/>
                  </body>
                  <geom class="gripper" fromto="0 -0.1 0 0 0.1 0"/>
                  <geom class="gripper" fromto="0 -0.1 0 0.11 -0.1 0"/>
                  <geom class="gripper" fromto="0 0.1 0 0.11 0.1 0"/>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
  </body>
</body>
"""


def pusher_mjcf(camera: CameraPose | None = None, servo_kp: float = 150.0) -> str:
    """The scene as an MJCF string (arm, table, objects, camera); compile with ``MjModel.from_xml_string``."""
    camera = camera or CameraPose()
    actuators = "\n".join(
        f'<position joint="{j}" kp="{servo_kp}" kv="{servo_kp / 10:g}" ctrlrange="-3 3"/>' for j in ARM_JOINTS
    )
    return f"""
<mujoco model="lcvg_pusher">
  <compiler inertiafromgeom="true" angle="radian"/>
  <option timestep="0.01" gravity="0 0 0" integrator="implicitfast"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0.05 0.05 0.05"/>
  </visual>
  <asset>
    <texture name="table" type="2d" builtin="checker" width="256" height="256"
             rgb1="0.62 0.58 0.52" rgb2="0.58 0.54 0.48" mark="random" random="0.06" markrgb="0.3 0.28 0.25"/>
    <material name="table" texture="table" texrepeat="6 6" specular="0" shininess="0"/>
    <mesh name="prism" vertex="{_prism_vertices()}"/>
    <material name="tray" rgba="0.42 0.44 0.48 1" specular="0.1"/>
    <texture name="red" type="cube" builtin="flat" width="{ARM_TEXTURE_SIZE}" height="{ARM_TEXTURE_SIZE}"
             rgb1="0.8 0.16 0.12" mark="random" random="0.5" markrgb="0.35 0.05 0.05"/>
    <texture name="grey" type="cube" builtin="flat" width="{ARM_TEXTURE_SIZE}" height="{ARM_TEXTURE_SIZE}"
             rgb1="0.65 0.66 0.7" mark="random" random="0.5" markrgb="0.25 0.26 0.3"/>
    <material name="red" texture="red" specular="0.2"/>
    <material name="dark" rgba="0.16 0.16 0.18 1" specular="0.2"/>
    <material name="grey" texture="grey" specular="0.2"/>
  </asset>
  <default>
    <joint type="hinge" armature="0.04" damping="1" limited="true"/>
    <geom density="300" friction=".8 .1 .1" margin="0.002" condim="3" contype="0" conaffinity="0"/>
    <default class="gripper">
      <geom type="capsule" size="0.03" material="dark" contype="1" conaffinity="1"/>
    </default>
    <default class="object">
      <joint limited="false" damping="0.6" armature="0"/>
      <geom density="20" contype="3" conaffinity="3" rgba="0.8 0.8 0.8 1"/>
    </default>
    <default class="tray">
      <geom type="box" contype="2" conaffinity="2" material="tray"/>
    </default>
  </default>
  <worldbody>
    <light directional="true" diffuse="0.5 0.5 0.5" pos="0 0 3" dir="0.2 -0.3 -1" castshadow="false"/>
    {_camera_xml(camera)}
    <geom name="table" type="plane" pos="0 0 {TABLE_Z}" size="3 3 0.1" material="table"/>
    {_tray_xml()}
    {_ARM}
    {_objects_xml()}
  </worldbody>
  <actuator>
    {actuators}
  </actuator>
</mujoco>
"""
