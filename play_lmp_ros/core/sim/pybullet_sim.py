"""
The play table simulator: CALVIN scene D semantics on an authored PyBullet scene.

A Franka Panda with CALVIN's gripper (panda.py) in front of CALVIN's scene D desk, authored from
primitives (assets/play_table.urdf): a sliding door, a drawer, a push button driving a green LED,
a slide switch driving a lightbulb, and three blocks.  Control and observations follow layout.py
exactly: 30 Hz control with 8 physics substeps at 240 Hz, IK on CALVIN's TCP with null space, and
an internal target pose that relative actions accumulate into.
"""

from dataclasses import dataclass
import logging
from typing import Dict, List, Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import BlockInfo, ROBOT, SceneInfo, TABLE, TABLE_LINKS
from play_lmp_ros.core.sim import panda, scene_geometry as geo
from play_lmp_ros.core.sim.bullet import connect, pybullet, pybullet_data
from play_lmp_ros.core.sim.closable import ClosableSimulator
from play_lmp_ros.core.sim.table_bodies import TableBodies

logger = logging.getLogger(__name__)

PLANE = 'plane'
ACTION_TYPES = ('relative', 'absolute')
CAMERAS = ('static', 'gripper')


@dataclass(frozen=True)
class SimStateToken:
    """
    Opaque handle of a saved simulator state.

    :param bullet_state_id: id of pybullet's in-memory saveState.
    :param target_pose: (6,) TCP target position (m) + euler (rad).
    :param gripper_action: last gripper action, -1 or +1.
    :param button_pressed: whether the button was past its trigger at the last step.
    :param lightbulb: logical lightbulb state.
    :param led: logical LED state.
    """

    bullet_state_id: int
    target_pose: Tuple[float, ...]
    gripper_action: float
    button_pressed: bool
    lightbulb: int
    led: int


class PlayTableSim(ClosableSimulator):
    """
    PyBullet play table with CALVIN's observation/action contract.

    Several instances coexist in one process; each owns a DIRECT (or GUI) physics client.
    Nothing is rendered unless render() is called.
    """

    def __init__(self, seed: int = 0, gui: bool = False):
        """
        Build the scene and reset it to the neutral robot pose and a seeded random scene.

        :param seed: seed of the random scene generator.
        :param gui: open pybullet's GUI instead of a headless client.
        """
        self._client = connect(gui)
        self._rng = np.random.default_rng(seed)
        self._target_pose = np.zeros(6)
        self._gripper_action = layout.GRIPPER_OPEN
        self._button_pressed = False
        # -1: the light links are not painted yet, so the first reset paints both.
        self._lightbulb = -1
        self._led = -1
        self._closed = False
        # Whether a physics step has run since the last reset or restore (see scene_info).
        self._stepped = False
        self._build_world()
        self.reset()

    # ------------------------------------------------------------------ construction

    def _build_world(self) -> None:
        client = self._client
        client.setAdditionalSearchPath(pybullet_data.getDataPath())
        client.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
        client.setGravity(0.0, 0.0, -9.8)
        client.setTimeStep(1.0 / layout.PHYSICS_HZ)

        plane_shape = client.createCollisionShape(pybullet.GEOM_PLANE)
        self._plane = client.createMultiBody(0.0, plane_shape)
        client.changeDynamics(self._plane, -1, lateralFriction=geo.SURFACE_LATERAL_FRICTION)

        self._table = TableBodies(client, geo.TABLE_URDF)
        if self._table.link_names != TABLE_LINKS:
            raise ValueError(f'{geo.TABLE_URDF} names its links {self._table.link_names}; contact '
                             f'names need {TABLE_LINKS}')
        for body in self._table.bodies:
            for link in range(-1, client.getNumJoints(body)):
                client.changeDynamics(body, link, lateralFriction=geo.SURFACE_LATERAL_FRICTION)
        for joint in (geo.SLIDE_JOINT, geo.DRAWER_JOINT, geo.SWITCH_JOINT):
            client.setJointMotorControl2(
                *self._table.place(joint), pybullet.VELOCITY_CONTROL, targetVelocity=0.0,
                force=geo.DOOR_FRICTION_FORCE_N)
        client.setJointMotorControl2(
            *self._table.place(geo.BUTTON_JOINT), pybullet.POSITION_CONTROL, targetPosition=0.0,
            force=geo.BUTTON_SPRING_FORCE_N)
        # (body, joint) of the door, drawer, button and switch, in scene_obs order.
        self._part_joints = [self._table.place(joint) for joint in geo.ARTICULATED_JOINTS]

        with panda.urdf_file() as robot_urdf:
            self._robot = client.loadURDF(robot_urdf, geo.ROBOT_BASE_POSITION, useFixedBase=True)
        # Couple the fingers like the real gripper (and calvin_env): mirror-image motion.
        gear = client.createConstraint(
            self._robot, geo.FINGER_JOINT_IDS[0], self._robot, geo.FINGER_JOINT_IDS[1],
            pybullet.JOINT_GEAR, (1, 0, 0), (0, 0, 0), (0, 0, 0))
        client.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=50)
        self._robot_joint_ids = geo.ARM_JOINT_IDS + geo.FINGER_JOINT_IDS
        movable = len(self._robot_joint_ids)
        self._ik_lower = [-geo.IK_NULLSPACE_LIMIT] * movable
        self._ik_upper = [geo.IK_NULLSPACE_LIMIT] * movable
        self._ik_ranges = [geo.IK_NULLSPACE_LIMIT] * movable
        self._ik_rest = list(geo.NEUTRAL_ARM_JOINTS) + [geo.FINGER_OPEN_M] * 2
        self._robot_link_names = {-1: 'panda_link0'}
        for joint in range(client.getNumJoints(self._robot)):
            self._robot_link_names[joint] = client.getJointInfo(self._robot, joint)[12].decode()

        self._blocks = []
        for size, rgba in zip(geo.BLOCK_SIZES, geo.BLOCK_RGBA):
            half = [s / 2.0 for s in size]
            collision = client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half)
            visual = client.createVisualShape(pybullet.GEOM_BOX, halfExtents=half, rgbaColor=rgba)
            block = client.createMultiBody(
                geo.BLOCK_MASS_KG, collision, visual, (0.0, 0.0, geo.BLOCK_REST_Z))
            client.changeDynamics(
                block, -1, lateralFriction=geo.BLOCK_LATERAL_FRICTION,
                spinningFriction=geo.BLOCK_SPINNING_FRICTION)
            self._blocks.append(block)

        self._body_names = {self._robot: ROBOT, self._plane: PLANE}
        self._body_names.update((body, TABLE) for body in self._table.bodies)
        self._body_names.update(zip(self._blocks, layout.BLOCK_NAMES))
        self._arm_lower = np.asarray(layout.ARM_LOWER_LIMITS)
        self._arm_upper = np.asarray(layout.ARM_UPPER_LIMITS)

    # ------------------------------------------------------------------ public API

    def reset(self, robot_obs=None, scene_obs=None) -> np.ndarray:
        """
        Reset the robot and the scene, each to a given state or to its default.

        robot_obs None means the neutral robot pose (open gripper); scene_obs None means a random
        scene from this simulator's seeded generator (see reset_random).  No physics step is run,
        so observe() returns the given state (TCP pose recomputed from the joints).  PyBullet
        keeps contact state across a reset, so the steps after it can differ by about 0.1 mm
        from those of a freshly built simulator; runs that must not depend on their history
        (evaluation episodes) build one each.

        :param robot_obs: (15,) layout robot_obs, or None.
        :param scene_obs: (24,) layout scene_obs, or None.
        :return: (39,) observation.
        :raises ValueError: if a given state has the wrong size, non-finite values, a gripper
            action other than +-1, lights other than 0 / 1 or a value outside its physical
            range (layout.check_robot_state, layout.check_scene_state), or a block that
            reaches more than scene_geometry.PENETRATION_LIMIT_M into the table or another block
            (a state made for other geometry); the simulator is left unchanged.
        """
        robot_state = None if robot_obs is None else layout.check_robot_state(robot_obs)
        scene_state = None if scene_obs is None else layout.check_scene_state(scene_obs)
        if scene_state is None:
            scene_state = self._place_random_parts()
        else:
            self._place_fitting_parts(scene_state)
        self._reset_scene_logic(scene_state)
        self._reset_robot(robot_state)
        self._stepped = False
        return self.observe()

    def reset_random(self, seed: Optional[int] = None) -> np.ndarray:
        """
        Reset to the neutral robot pose and a random scene.

        Unlike CALVIN, which starts every articulated part at 0 with both lights off, the
        sliding door and the drawer are drawn uniformly in their ranges, the switch is either
        down or up (the lightbulb follows) and the LED is on or off with equal odds, which
        makes play data more varied.  The button starts released.  Each block lies on a
        uniformly chosen surface (table, slider_left, slider_right) at a uniform position and
        yaw in [-pi, pi), rejection-sampled until no two footprints overlap.

        :param seed: reseed the generator first; None continues its stream.
        :return: (39,) observation.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        return self.reset()

    def step(self, action, action_type: str = 'relative') -> np.ndarray:
        """
        Apply one 30 Hz control action and run 8 physics substeps.

        :param action: (7,) relative action (motion in [-1, 1], scaled by 0.02 m / 0.05 rad and
            added to the internal target pose) or absolute action (TCP position in m, inside
            layout.TCP_WORKSPACE_M, euler in rad); last value the gripper, exactly -1 (close) or
            +1 (open).
        :param action_type: 'relative' or 'absolute'.
        :return: (39,) observation after the step.
        :raises ValueError: on an unknown action_type or an invalid action; nothing is applied.
        """
        if action_type == 'relative':
            target = layout.relative_to_absolute(
                layout.check_relative_action(action), self._target_pose)
        elif action_type == 'absolute':
            target = layout.check_absolute_action(action, layout.TCP_WORKSPACE_M)
        else:
            raise ValueError(f'action_type must be one of {ACTION_TYPES}, got {action_type!r}')
        self._apply_target(target)
        step_simulation = self._client.stepSimulation
        for _ in range(layout.SUBSTEPS):
            step_simulation()
        self._stepped = True
        table_joints = self._table_joint_values()
        self._update_scene_logic(table_joints)
        return self._observation(table_joints)

    def observe(self) -> np.ndarray:
        """
        Return the current observation.

        :return: (39,) float64: robot_obs (15,) then scene_obs (24,), see layout.py.
        """
        return self._observation(self._table_joint_values())

    @property
    def robot_obs(self) -> np.ndarray:
        """
        Return the robot part of the observation.

        :return: (15,) TCP position (m), TCP euler (rad), gripper width (m), 7 arm joints (rad),
            last gripper action.
        """
        return self.observe()[:layout.ROBOT_OBS_DIM]

    @property
    def scene_obs(self) -> np.ndarray:
        """
        Return the scene part of the observation.

        :return: (24,) door, drawer, button, switch (m), lightbulb, LED, block poses.
        """
        return self.observe()[layout.ROBOT_OBS_DIM:]

    def link_poses(self) -> List[Tuple[str, np.ndarray, np.ndarray]]:
        """
        Return the world pose of every link of the table and the robot, as the URDFs name them.

        :return: (link name, (3,) position (m), (4,) quaternion x, y, z, w) for each base link and
            each link of the table and the Panda; the URDF link frames, not the centres of mass.
        """
        client = self._client
        poses = []
        places = [self._table.place(name) for name in self._table.link_names]
        places.append((self._robot, -1))
        places.extend((self._robot, link) for link in range(client.getNumJoints(self._robot)))
        for body, link in places:
            if link == -1:
                position, orientation = client.getBasePositionAndOrientation(body)
                name = client.getBodyInfo(body)[0].decode()
            else:
                position, orientation = client.getLinkState(
                    body, link, computeForwardKinematics=True)[4:6]
                name = client.getJointInfo(body, link)[12].decode()
            poses.append((name, np.array(position), np.array(orientation)))
        return poses

    def table_link_boxes(self) -> Dict[str, np.ndarray]:
        """
        Return pybullet's axis-aligned box of every table link, by its URDF name.

        :return: link name -> (2, 3) lower and upper corners (m), in TABLE_LINKS order.
        """
        return {name: np.asarray(self._client.getAABB(*self._table.place(name)))
                for name in self._table.link_names}

    def scene_info(self) -> SceneInfo:
        """
        Describe the scene for the task oracle; computed only when called.

        Contacts are CALVIN's: pybullet's contact points of the last physics step, so that a
        block's contacts mean what calvin_env's scene info means.  Before the first step after a
        reset or a restore there are none yet (pybullet makes them in a step, and a block set
        exactly onto a surface touches it only once it settles, a step later); then the bodies
        within scene_geometry.RESET_CONTACT_DISTANCE_M of each other are in contact, which is
        what calvin_env's settled state after its reset shows.

        :return: the SceneInfo snapshot.
        """
        client = self._client
        slide, drawer = self._table_joint_values()[:2]
        blocks = {}
        for name, block in zip(layout.BLOCK_NAMES, self._blocks):
            position, orientation = client.getBasePositionAndOrientation(block)
            linear, angular = client.getBaseVelocity(block)
            blocks[name] = BlockInfo(
                position=np.array(position), orientation=np.array(orientation),
                linear_velocity=np.array(linear), angular_velocity=np.array(angular),
                contacts=self._contacts(block))
        robot_contacts = self._contacts(self._robot)
        return SceneInfo(
            doors={geo.SLIDE_JOINT: float(slide), geo.DRAWER_JOINT: float(drawer)},
            lights={'lightbulb': self._lightbulb, 'led': self._led},
            blocks=blocks, robot_contacts=robot_contacts)

    def save_state(self) -> SimStateToken:
        """
        Save the full state: physics in memory plus the controller and scene logic.

        :return: an opaque token for restore_state; free it with remove_state.
        """
        return SimStateToken(
            bullet_state_id=self._client.saveState(),
            target_pose=tuple(self._target_pose.tolist()),
            gripper_action=self._gripper_action, button_pressed=self._button_pressed,
            lightbulb=self._lightbulb, led=self._led)

    def restore_state(self, token: SimStateToken) -> np.ndarray:
        """
        Restore a state saved by save_state, exactly.

        :param token: from save_state of this simulator, not yet removed.
        :return: (39,) observation.
        :raises ValueError: if token is not a SimStateToken.
        """
        if not isinstance(token, SimStateToken):
            raise ValueError(f'token must come from save_state, got {type(token).__name__}')
        self._client.restoreState(stateId=token.bullet_state_id)
        self._stepped = False
        self._target_pose = np.array(token.target_pose)
        self._command_gripper(token.gripper_action)
        self._gripper_action = token.gripper_action
        self._button_pressed = token.button_pressed
        self._set_lights(token.lightbulb, token.led)
        return self.observe()

    def remove_state(self, token: SimStateToken) -> None:
        """
        Free the memory of a saved state.

        :param token: from save_state; it cannot be restored afterwards.
        """
        self._client.removeState(token.bullet_state_id)

    def render(self, camera: str = 'static', size: Optional[int] = None) -> np.ndarray:
        """
        Render one camera with pybullet's CPU TinyRenderer.

        :param camera: 'static' (CALVIN's fixed view, 200x200 by default) or 'gripper' (on the
            hand, 84x84 by default).
        :param size: image side in pixels, overriding the camera's default.
        :return: (size, size, 3) uint8 RGB.
        :raises ValueError: on an unknown camera or a size below 1.
        """
        if camera not in CAMERAS:
            raise ValueError(f'camera must be one of {CAMERAS}, got {camera!r}')
        config = geo.STATIC_CAMERA if camera == 'static' else geo.GRIPPER_CAMERA
        side = config['size'] if size is None else int(size)
        if side < 1:
            raise ValueError(f'render size must be at least 1 pixel, got {size}')
        client = self._client
        if camera == 'static':
            eye, target, up = config['look_from'], config['look_at'], config['up']
        else:
            eye, target, up = self._gripper_camera_pose()
        view = client.computeViewMatrix(eye, target, up)
        projection = client.computeProjectionMatrixFOV(
            config['fov_deg'], 1.0, config['near'], config['far'])
        _, _, rgba, _, _ = client.getCameraImage(
            side, side, view, projection, renderer=pybullet.ER_TINY_RENDERER,
            flags=pybullet.ER_NO_SEGMENTATION_MASK)
        return np.reshape(np.asarray(rgba, dtype=np.uint8), (side, side, 4))[:, :, :3].copy()

    def close(self) -> None:
        """Disconnect the physics client; the simulator cannot be used afterwards."""
        if not self._closed:
            self._client.disconnect()
            self._closed = True

    # ------------------------------------------------------------------ reset helpers

    def _place_random_parts(self) -> np.ndarray:
        """
        Put the table's parts and the blocks in a random state whose blocks meet no part.

        :return: (24,) the scene_obs drawn.
        :raises RuntimeError: when none is found in PLACEMENT_MAX_TRIES draws.
        """
        for _ in range(geo.PLACEMENT_MAX_TRIES):
            scene_state = self._sample_scene()
            self._place_parts(scene_state)
            self._client.performCollisionDetection()
            if self._interpenetration(geo.PLACEMENT_PENETRATION_M) is None:
                return scene_state
        raise RuntimeError(f'no block placement clear of the table in {geo.PLACEMENT_MAX_TRIES} '
                           'tries')

    def _place_fitting_parts(self, scene_state: np.ndarray) -> None:
        """
        Put the table's parts and the blocks where a given scene_obs has them, if they fit.

        :param scene_state: (24,) validated scene_obs.
        :raises ValueError: when a block sinks deeper than PENETRATION_LIMIT_M into the table or
            another block; the parts and blocks are put back as they were.
        """
        client = self._client
        joints = [client.getJointState(*place) for place in self._part_joints]
        blocks = [(client.getBasePositionAndOrientation(block), client.getBaseVelocity(block))
                  for block in self._blocks]
        self._place_parts(scene_state)
        client.performCollisionDetection()
        overlap = self._interpenetration(geo.PENETRATION_LIMIT_M)
        if overlap is None:
            return
        for place, state in zip(self._part_joints, joints):
            client.resetJointState(*place, state[0], state[1])
        for block, (pose, velocity) in zip(self._blocks, blocks):
            client.resetBasePositionAndOrientation(block, *pose)
            client.resetBaseVelocity(block, *velocity)
        raise ValueError(f'scene_obs puts {overlap}; a state from another scene?')

    def _sample_scene(self) -> np.ndarray:
        rng = self._rng
        scene_state = np.zeros(layout.SCENE_OBS_DIM)
        draw_parts(rng, scene_state)
        surfaces = list(geo.PLACEMENT_SURFACES.values())
        for _ in range(geo.PLACEMENT_MAX_TRIES):
            footprints = []
            for block_index in range(len(self._blocks)):
                low, high = surfaces[rng.integers(len(surfaces))]
                x, y = rng.uniform(low, high)
                yaw = rng.uniform(-np.pi, np.pi)
                footprints.append((x, y, yaw, geo.block_half_extents(block_index)[:2]))
            if not any(_crosses_keep_out(footprint) for footprint in footprints) and not any(
                    _footprints_overlap(a, b, geo.PLACEMENT_CLEARANCE)
                    for i, a in enumerate(footprints) for b in footprints[i + 1:]):
                break
        else:
            raise RuntimeError(
                f'no overlap-free block placement in {geo.PLACEMENT_MAX_TRIES} tries')
        for block_index, (x, y, yaw, _) in enumerate(footprints):
            scene_state[layout.block_slice(block_index)] = (x, y, geo.BLOCK_REST_Z, 0.0, 0.0, yaw)
        return scene_state

    def _reset_scene_logic(self, scene_state: np.ndarray) -> None:
        self._set_lights(int(scene_state[layout.LIGHTBULB]), int(scene_state[layout.LED]))
        # The button's latch follows its joint so that a state restored mid-press does not count
        # as a new press; the LED keeps the restored value until the next press.
        self._button_pressed = bool(scene_state[layout.BUTTON] > layout.BUTTON_TRIGGER)

    def _place_parts(self, scene_state: np.ndarray) -> None:
        client = self._client
        for place, index in zip(self._part_joints,
                                (layout.SLIDER, layout.DRAWER, layout.BUTTON, layout.SWITCH)):
            client.resetJointState(*place, scene_state[index], 0.0)
        for block_index, block in enumerate(self._blocks):
            pose = scene_state[layout.block_slice(block_index)]
            client.resetBasePositionAndOrientation(
                block, pose[:3], client.getQuaternionFromEuler(pose[3:]))
            client.resetBaseVelocity(block, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))

    def _reset_robot(self, robot_state: Optional[np.ndarray]) -> None:
        client = self._client
        if robot_state is None:
            arm = np.asarray(geo.NEUTRAL_ARM_JOINTS)
            finger = geo.FINGER_OPEN_M
            gripper_action = layout.GRIPPER_OPEN
        else:
            arm = robot_state[layout.ARM_JOINTS]
            finger = robot_state[layout.GRIPPER_WIDTH] / 2.0
            gripper_action = float(robot_state[layout.GRIPPER_ACTION])
        for joint, value in zip(geo.ARM_JOINT_IDS, arm):
            client.resetJointState(self._robot, joint, value, 0.0)
            client.setJointMotorControl2(
                self._robot, joint, pybullet.POSITION_CONTROL, targetPosition=value,
                force=geo.ARM_MAX_FORCE_N, maxVelocity=geo.ARM_MAX_VELOCITY)
        for joint in geo.FINGER_JOINT_IDS:
            client.resetJointState(self._robot, joint, finger, 0.0)
        self._command_gripper(gripper_action)
        self._gripper_action = gripper_action
        position, orientation = self._tcp_pose()
        self._target_pose = np.concatenate([position, orientation])

    # ------------------------------------------------------------------ control

    def _apply_target(self, target: np.ndarray) -> None:
        client = self._client
        self._target_pose = target[:6].copy()
        joints = client.calculateInverseKinematics(
            self._robot, geo.TCP_LINK_ID, target[:3].tolist(),
            client.getQuaternionFromEuler(target[3:6].tolist()),
            lowerLimits=self._ik_lower, upperLimits=self._ik_upper,
            jointRanges=self._ik_ranges, restPoses=self._ik_rest)
        arm = np.clip(joints[:7], self._arm_lower, self._arm_upper)
        control = client.setJointMotorControl2
        for joint, value in zip(geo.ARM_JOINT_IDS, arm.tolist()):
            control(self._robot, joint, pybullet.POSITION_CONTROL, targetPosition=value,
                    force=geo.ARM_MAX_FORCE_N, maxVelocity=geo.ARM_MAX_VELOCITY)
        # The finger motors keep their last command: send one only when the gripper changes.
        if float(target[6]) != self._gripper_action:
            self._command_gripper(float(target[6]))
        self._gripper_action = float(target[6])

    def _command_gripper(self, gripper_action: float) -> None:
        if gripper_action == layout.GRIPPER_OPEN:
            finger, force = geo.FINGER_OPEN_M, geo.GRIPPER_OPEN_FORCE_N
        else:
            finger, force = 0.0, geo.GRIPPER_CLOSE_FORCE_N
        for joint in geo.FINGER_JOINT_IDS:
            self._client.setJointMotorControl2(
                self._robot, joint, pybullet.POSITION_CONTROL, targetPosition=finger,
                force=force, maxVelocity=geo.GRIPPER_MAX_VELOCITY)

    # ------------------------------------------------------------------ scene logic

    def _update_scene_logic(self, table_joints: np.ndarray) -> None:
        pressed = bool(table_joints[2] > layout.BUTTON_TRIGGER)
        led = 1 - self._led if pressed and not self._button_pressed else self._led
        self._button_pressed = pressed
        lightbulb = int(table_joints[3] > layout.SWITCH_TRIGGER)
        self._set_lights(lightbulb, led)

    def _set_lights(self, lightbulb: int, led: int) -> None:
        for link, state, on_rgba, previous in (
                (geo.LIGHT_LINK, lightbulb, geo.LIGHTBULB_ON_RGBA, self._lightbulb),
                (geo.LED_LINK, led, geo.LED_ON_RGBA, self._led)):
            if state != previous:
                self._client.changeVisualShape(
                    *self._table.place(link), rgbaColor=on_rgba if state else geo.LIGHT_OFF_RGBA)
        self._lightbulb, self._led = lightbulb, led

    # ------------------------------------------------------------------ observation helpers

    def _table_joint_values(self) -> np.ndarray:
        get_state = self._client.getJointState
        return np.array([get_state(*place)[0] for place in self._part_joints])

    def _tcp_pose(self) -> Tuple[np.ndarray, np.ndarray]:
        client = self._client
        link_state = client.getLinkState(
            self._robot, geo.TCP_LINK_ID, computeForwardKinematics=True)
        return np.array(link_state[4]), np.array(client.getEulerFromQuaternion(link_state[5]))

    def _observation(self, table_joints: np.ndarray) -> np.ndarray:
        client = self._client
        observation = np.empty(layout.OBS_DIM)
        position, orientation = self._tcp_pose()
        observation[layout.TCP_POS] = position
        observation[layout.TCP_ORN] = orientation
        joint_states = client.getJointStates(self._robot, self._robot_joint_ids)
        joints = [state[0] for state in joint_states]
        observation[layout.GRIPPER_WIDTH] = joints[7] + joints[8]
        observation[layout.ARM_JOINTS] = joints[:7]
        observation[layout.GRIPPER_ACTION] = self._gripper_action
        scene = observation[layout.ROBOT_OBS_DIM:]
        scene[:4] = table_joints
        scene[layout.LIGHTBULB] = self._lightbulb
        scene[layout.LED] = self._led
        for block_index, block in enumerate(self._blocks):
            block_position, block_orientation = client.getBasePositionAndOrientation(block)
            pose = scene[layout.block_slice(block_index)]
            pose[:3] = block_position
            pose[3:] = client.getEulerFromQuaternion(block_orientation)
        return observation

    def _contacts(self, body: int) -> frozenset:
        client = self._client
        if self._stepped:
            points = client.getContactPoints(bodyA=body)
        else:
            others = [other for other in self._body_names if other != body]
            points = [point for other in others for point in client.getClosestPoints(
                body, other, geo.RESET_CONTACT_DISTANCE_M)]
        return frozenset(self._contact_name(point[2], point[4]) for point in points)

    def _interpenetration(self, limit: float) -> Optional[str]:
        """
        Say which block, if any, reaches into the table or another block beyond a limit.

        :param limit: penetration depth (m) that still passes.
        :return: e.g. 'block_red 12.0 mm into table/drawer_link at (0.100, -0.200, 0.340)', or
            None.
        """
        for name, block in zip(layout.BLOCK_NAMES, self._blocks):
            for point in self._client.getContactPoints(bodyA=block):
                if point[2] != self._robot and point[8] < -limit:
                    other = '/'.join(self._contact_name(point[2], point[4]))
                    where = ', '.join(f'{value:.3f}' for value in point[5])
                    return f'{name} {-point[8] * 1000:.1f} mm into {other} at ({where})'
        return None

    def _contact_name(self, body: int, link: int) -> Tuple[str, str]:
        if self._body_names.get(body) == TABLE:
            return TABLE, self._table.link_name(body, link)
        if body == self._robot:
            return ROBOT, self._robot_link_names[link]
        return self._body_names[body], 'base_link'

    def _gripper_camera_pose(self):
        client = self._client
        camera = client.getLinkState(
            self._robot, geo.GRIPPER_CAMERA_LINK_ID, computeForwardKinematics=True)
        eye, orientation = camera[4], camera[5]
        rotation = np.reshape(client.getMatrixFromQuaternion(orientation), (3, 3))
        target = np.asarray(eye) + rotation[:, 1]
        return eye, target.tolist(), (-rotation[:, 2]).tolist()


def draw_parts(rng: np.random.Generator, scene_state: np.ndarray) -> None:
    """
    Draw the articulated parts and the lights as a random reset does, in place.

    The door and the drawer uniformly in their ranges, the switch down or up (the lightbulb
    follows) and the LED off or on, with equal odds; the button stays as it is.

    :param rng: random source.
    :param scene_state: (24,) scene_obs whose door, drawer, switch and light values are set.
    """
    scene_state[layout.SLIDER] = rng.uniform(*layout.SLIDER_RANGE)
    scene_state[layout.DRAWER] = rng.uniform(*layout.DRAWER_RANGE)
    switch_up = int(rng.integers(2))
    scene_state[layout.SWITCH] = layout.SWITCH_RANGE[1] * switch_up
    scene_state[layout.LIGHTBULB] = switch_up
    scene_state[layout.LED] = int(rng.integers(2))


def _footprint_corners(footprint, clearance: float) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return the edge directions and corners of a yawed block footprint grown by a clearance.

    :param footprint: (x, y, yaw, half_extents (2,)) of the block (m, rad).
    :param clearance: total growth (m), half on each side.
    :return: axes (2, 2) unit edge directions and corners (4, 2) in m.
    """
    x, y, yaw, half = footprint
    axes = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
    signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    corners = np.array([x, y]) + (signs * (np.asarray(half) + clearance / 2.0)) @ axes
    return axes, corners


def _footprints_overlap(first, second, clearance: float) -> bool:
    """
    Tell whether two yawed block footprints, grown by a clearance, overlap (separating axes).

    :param first: (x, y, yaw, half_extents (2,)) of one block (m, rad).
    :param second: the same for the other block.
    :param clearance: gap (m) that still counts as overlap.
    :return: True if they overlap.
    """
    axes_a, corners_a = _footprint_corners(first, clearance)
    axes_b, corners_b = _footprint_corners(second, clearance)
    for axis in np.vstack([axes_a, axes_b]):
        projection_a = corners_a @ axis
        projection_b = corners_b @ axis
        if projection_a.max() < projection_b.min() or projection_b.max() < projection_a.min():
            return False
    return True


def _crosses_keep_out(footprint) -> bool:
    """
    Tell whether a block footprint reaches under the sliding door.

    :param footprint: (x, y, yaw, half_extents (2,)) of the block (m, rad).
    :return: True if its y extent meets scene_geometry.PLACEMENT_KEEP_OUT_Y.
    """
    _, corners = _footprint_corners(footprint, 0.0)
    low, high = geo.PLACEMENT_KEEP_OUT_Y
    return bool(corners[:, 1].min() < high and corners[:, 1].max() > low)
