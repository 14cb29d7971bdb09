"""
Adapter running calvin_env's PlayTableSimEnv behind the PlayTableSim API.

calvin_env (github.com/mees/calvin_env, checked at 797142c) is imported only when CalvinEnvSim
is built, never when play_lmp_ros.core.sim is imported.  The environment is composed from
calvin_env's own Hydra configs (config_data_collection: scene D, panda_longer_finger) without
cameras, with scene info at each step unless asked otherwise, EGL off and VR off; the static
and gripper cameras are built on the first render() only, so that control steps stay
state-only.

Where calvin_env and the PlayTableSim contract differ, the adapter follows the contract:

- reset() also sets the last gripper action from robot_obs[14] (calvin_env keeps the previous
  one) and drives the fingers by it; without robot_obs the gripper action is +1 (open).
- An absolute step also moves the internal target pose that relative steps accumulate into
  (calvin_env leaves it where the last relative step or reset put it).
- reset_random(seed) reseeds the random scene (calvin_env's seed() makes a new generator that its
  already built scene never sees).
- reset() stops the blocks before calvin_env places them (it moves them without zeroing their
  velocities, then runs physics).
- save_state / restore_state are exact: pybullet's in-memory state plus calvin_env's controller
  and light logic, and the observation (observe() returns the one of the last reset, step or
  restore).

calvin_env's own semantics are kept otherwise: reset runs one physics step (so observe() returns
the given state after 1/240 s), a random reset puts doors, button, switch and lights at 0 and
draws only the blocks, contacts are pybullet's contact points of the last physics step, and the
TCP pose in robot_obs is pybullet's cached link pose, which lags the arm joints by one 240 Hz
substep.
"""

import contextlib
from dataclasses import dataclass
import logging
from pathlib import Path
import sys
from typing import Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import BlockInfo, ROBOT, SceneInfo, TABLE
from play_lmp_ros.core.sim.closable import ClosableSimulator
import pybullet

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    'the calvin_env backend needs calvin_env and hydra-core: clone github.com/mees/calvin_env '
    '(it is not on PyPI; measured against 797142c) and pip install -e it')
ACTION_TYPES = {'relative': 'cartesian_rel', 'absolute': 'cartesian_abs'}
CAMERAS = ('static', 'gripper')
PLANE = 'plane'
ENV_SETTINGS = (('use_egl', False), ('use_vr', False))


@dataclass(frozen=True)
class CalvinStateToken:
    """
    Opaque handle of a saved calvin_env state.

    :param bullet_state_id: id of pybullet's in-memory saveState.
    :param target_pos: (3,) calvin_env's TCP target position (m).
    :param target_orn: (3,) calvin_env's TCP target euler (rad).
    :param gripper_action: last gripper action, -1 or +1.
    :param lights: logical state per light, in calvin_env's scene order.
    :param buttons: (logical state, pressed at the last step) per button.
    :param switches: logical state per switch.
    :param observation: (39,) observation when saved.
    """

    bullet_state_id: int
    target_pos: Tuple[float, ...]
    target_orn: Tuple[float, ...]
    gripper_action: float
    lights: Tuple[int, ...]
    buttons: Tuple[Tuple[int, bool], ...]
    switches: Tuple[int, ...]
    observation: Tuple[float, ...]


@contextlib.contextmanager
def _own_hydra(config_dir: str):
    """
    Initialise Hydra on a config folder, even inside a running Hydra application.

    :param config_dir: absolute config folder.
    :yield: nothing; hydra.compose works inside the block.
    """
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    outer = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with hydra.initialize_config_dir(config_dir=config_dir, version_base=None):
            yield
    finally:
        GlobalHydra.instance().hydra = outer


class CalvinEnvSim(ClosableSimulator):
    """
    calvin_env with the PlayTableSim API (observe, step, reset, scene_info, render, states).

    Each instance owns one pybullet client (DIRECT, or GUI when asked).
    """

    def __init__(self, seed: int = 0, gui: bool = False, scene_info_each_step: bool = True):
        """
        Compose and build calvin_env's PlayTableSimEnv, then reset it like reset_random(seed).

        :param seed: seed of the random scene.
        :param gui: open pybullet's GUI.
        :param scene_info_each_step: calvin_env's use_scene_info, which builds the scene's info
            (contact queries) at every step; off, a step is state-only, and scene_info() still
            answers.
        :raises ImportError: when calvin_env or hydra is not importable.
        """
        try:
            import calvin_env
            import hydra
            from omegaconf import OmegaConf
        except ImportError as error:
            raise ImportError(f'{INSTALL_HINT} ({error})') from error
        config_dir = Path(calvin_env.__file__).resolve().parents[1] / 'conf'
        with _own_hydra(str(config_dir)):
            config = hydra.compose(
                config_name='config_data_collection', overrides=['cameras=static_and_gripper'])
        self._camera_configs = OmegaConf.to_container(config.cameras, resolve=True)
        config.env.cameras = {}
        for key, value in ENV_SETTINGS + (('show_gui', gui), ('seed', seed),
                                          ('use_scene_info', scene_info_each_step)):
            config.env[key] = value
        self._closed = False
        self._cameras = {}
        with contextlib.redirect_stdout(sys.stderr):
            self._env = hydra.utils.instantiate(config.env)
        self._cid = self._env.cid
        self._index_bodies()
        self.reset_random(seed)

    def _index_bodies(self) -> None:
        """Map calvin_env's body uids and link ids to the names that scene_info uses."""
        env = self._env
        cid = self._cid
        table = env.scene.get_info()['fixed_objects']['table']
        self._table_uid = table['uid']
        self._table_links = {link_id: name for name, link_id in table['links'].items()}
        robot = env.robot.robot_uid
        self._names = {robot: ROBOT, self._table_uid: TABLE}
        self._names.update({block.uid: block.name for block in env.scene.movable_objects})
        for uid in range(pybullet.getNumBodies(physicsClientId=cid)):
            if pybullet.getBodyInfo(uid, physicsClientId=cid)[1] == b'plane':
                self._names[uid] = PLANE
        links = {-1: pybullet.getBodyInfo(robot, physicsClientId=cid)[0]}
        for joint in range(pybullet.getNumJoints(robot, physicsClientId=cid)):
            links[joint] = pybullet.getJointInfo(robot, joint, physicsClientId=cid)[12]
        self._robot_links = {link: name.decode() for link, name in links.items()}

    # ------------------------------------------------------------------ public API

    def reset(self, robot_obs=None, scene_obs=None) -> np.ndarray:
        """
        Reset through env.reset, then set the last gripper action as PlayTableSim does.

        :param robot_obs: (15,) or None for calvin_env's neutral robot (gripper open).
        :param scene_obs: (24,) or None for calvin_env's random scene (articulations at 0).
        :return: (39,) observation, after calvin_env's one physics step.
        :raises ValueError: on a state of the wrong size, non-finite values, a gripper action
            other than +-1, light states other than 0/1 or a value outside its physical range
            (layout.check_robot_state, layout.check_scene_state); the simulator is left
            unchanged.
        """
        gripper_action = layout.GRIPPER_OPEN
        if robot_obs is not None:
            robot_obs = layout.check_robot_state(robot_obs)
            gripper_action = float(robot_obs[layout.GRIPPER_ACTION])
        if scene_obs is not None:
            scene_obs = layout.check_scene_state(scene_obs)
        # calvin_env moves the blocks without stopping them, and its reset and random placement
        # run physics steps: leftover velocities would carry into the reset state.
        for block in self._env.scene.movable_objects:
            pybullet.resetBaseVelocity(block.uid, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0),
                                       physicsClientId=self._cid)
        self._env.reset(robot_obs=robot_obs, scene_obs=scene_obs)
        robot = self._env.robot
        robot.gripper_action = int(gripper_action)
        robot.control_gripper(robot.gripper_action)
        self._observation = self._read_observation()
        return self.observe()

    def reset_random(self, seed: Optional[int] = None) -> np.ndarray:
        """
        Reset to calvin_env's neutral robot and random scene.

        calvin_env's random scene has the doors, button, switch and lights at 0 and the blocks
        uniformly on a random surface with a random yaw, without block-block contact.

        :param seed: reseed the scene's generator first; None continues its stream.
        :return: (39,) observation.
        """
        if seed is not None:
            env = self._env
            env.seed(seed)
            # The scene and its blocks hold the generator they were built with: hand them the
            # new one, or the seed would change nothing.
            env.scene.np_random = env.np_random
            for block in env.scene.movable_objects:
                block.np_random = env.np_random
        return self.reset()

    def step(self, action, action_type: str = 'relative') -> np.ndarray:
        """
        Send one action as calvin_env's cartesian_rel or cartesian_abs.

        :param action: (7,) action, see PlayTableSim.step.
        :param action_type: 'relative' or 'absolute'.
        :return: (39,) observation.
        :raises ValueError: on an unknown action_type or an invalid action; nothing is applied.
        """
        if action_type == 'relative':
            action = layout.check_relative_action(action)
        elif action_type == 'absolute':
            action = layout.check_absolute_action(action, layout.TCP_WORKSPACE_M)
        else:
            raise ValueError(
                f'action_type must be one of {tuple(ACTION_TYPES)}, got {action_type!r}')
        observation, _, _, _ = self._env.step(
            {'action': action, 'type': ACTION_TYPES[action_type]})
        if action_type == 'absolute':
            robot = self._env.robot
            robot.target_pos = action[:3].copy()
            robot.target_orn = action[3:6].copy()
        self._observation = np.concatenate(
            [observation['robot_obs'], observation['scene_obs']]).astype(np.float64)
        return self.observe()

    def observe(self) -> np.ndarray:
        """
        Return the current observation: the one of the last reset, step or restore.

        :return: (39,) float64: robot_obs then scene_obs.
        """
        return self._observation.copy()

    def _read_observation(self) -> np.ndarray:
        """
        Read calvin_env's state observation.

        :return: (39,) float64: robot_obs then scene_obs.
        """
        state = self._env.get_state_obs()
        return np.concatenate([state['robot_obs'], state['scene_obs']]).astype(np.float64)

    @property
    def robot_obs(self) -> np.ndarray:
        """
        Return the robot part of the observation.

        :return: (15,) see layout.py.
        """
        return self.observe()[:layout.ROBOT_OBS_DIM]

    @property
    def scene_obs(self) -> np.ndarray:
        """
        Return the scene part of the observation.

        :return: (24,) see layout.py.
        """
        return self.observe()[layout.ROBOT_OBS_DIM:]

    def scene_info(self) -> SceneInfo:
        """
        Map calvin_env's info dict to a SceneInfo with named contacts.

        :return: the SceneInfo snapshot.
        """
        scene = self._env.scene.get_info()
        _, robot = self._env.robot.get_observation()
        blocks = {
            name: BlockInfo(
                position=np.asarray(obj['current_pos'], dtype=np.float64),
                orientation=np.asarray(obj['current_orn'], dtype=np.float64),
                linear_velocity=np.asarray(obj['current_lin_vel'], dtype=np.float64),
                angular_velocity=np.asarray(obj['current_ang_vel'], dtype=np.float64),
                contacts=self._named(obj['contacts']))
            for name, obj in scene['movable_objects'].items()}
        return SceneInfo(
            doors={name: float(door['current_state']) for name, door in scene['doors'].items()},
            lights={name: int(light['logical_state']) for name, light in scene['lights'].items()},
            blocks=blocks, robot_contacts=self._named(robot['contacts']))

    def _named(self, contacts) -> frozenset:
        """
        Name the other side of pybullet contact points.

        :param contacts: getContactPoints tuples (c[2] other body, c[4] other link).
        :return: frozenset of (body, link) names.
        """
        pairs = set()
        for contact in contacts:
            body, link = contact[2], contact[4]
            if body == self._table_uid:
                pairs.add((TABLE, self._table_links[link]))
            elif self._names.get(body) == ROBOT:
                pairs.add((ROBOT, self._robot_links[link]))
            else:
                pairs.add((self._names.get(body, f'body_{body}'), 'base_link'))
        return frozenset(pairs)

    def save_state(self) -> CalvinStateToken:
        """
        Save the full state: physics in memory plus calvin_env's controller and light logic.

        :return: an opaque token for restore_state; free it with remove_state.
        """
        env = self._env
        scene = env.scene
        return CalvinStateToken(
            bullet_state_id=pybullet.saveState(physicsClientId=self._cid),
            target_pos=tuple(np.asarray(env.robot.target_pos, dtype=np.float64).tolist()),
            target_orn=tuple(np.asarray(env.robot.target_orn, dtype=np.float64).tolist()),
            gripper_action=float(env.robot.gripper_action),
            lights=tuple(light.state.value for light in scene.lights),
            buttons=tuple((button.state.value, bool(button.prev_is_pressed))
                          for button in scene.buttons),
            switches=tuple(switch.state.value for switch in scene.switches),
            observation=tuple(self._observation.tolist()))

    def restore_state(self, token: CalvinStateToken) -> np.ndarray:
        """
        Restore a state saved by save_state, exactly.

        :param token: from save_state of this simulator, not yet removed.
        :return: (39,) observation.
        :raises ValueError: if token is not a CalvinStateToken.
        """
        if not isinstance(token, CalvinStateToken):
            raise ValueError(f'token must come from save_state, got {type(token).__name__}')
        env = self._env
        pybullet.restoreState(stateId=token.bullet_state_id, physicsClientId=self._cid)
        env.robot.target_pos = np.array(token.target_pos)
        env.robot.target_orn = np.array(token.target_orn)
        env.robot.gripper_action = int(token.gripper_action)
        for light, state in zip(env.scene.lights, token.lights):
            light.reset(state)
        for button, (state, pressed) in zip(env.scene.buttons, token.buttons):
            button.state = type(button.state)(state)
            button.prev_is_pressed = pressed
        for switch, state in zip(env.scene.switches, token.switches):
            switch.state = type(switch.state)(state)
        self._observation = np.array(token.observation)
        return self.observe()

    def remove_state(self, token: CalvinStateToken) -> None:
        """
        Free the memory of a saved state.

        :param token: from save_state; it cannot be restored afterwards.
        """
        pybullet.removeState(token.bullet_state_id, physicsClientId=self._cid)

    def render(self, camera: str = 'static', size: Optional[int] = None) -> np.ndarray:
        """
        Render one of calvin_env's cameras (built on first use) with its own renderer.

        :param camera: 'static' (200x200 by default) or 'gripper' (84x84 by default).
        :param size: image side in pixels, overriding the camera's default.
        :return: (H, W, 3) uint8 RGB.
        :raises ValueError: on an unknown camera or a size below 1.
        """
        if camera not in CAMERAS:
            raise ValueError(f'camera must be one of {CAMERAS}, got {camera!r}')
        if size is not None and int(size) < 1:
            raise ValueError(f'render size must be at least 1 pixel, got {size}')
        key = (camera, None if size is None else int(size))
        if key not in self._cameras:
            import hydra
            overrides = {} if size is None else {'width': int(size), 'height': int(size)}
            self._cameras[key] = hydra.utils.instantiate(
                {**self._camera_configs[camera], **overrides}, cid=self._cid,
                robot_id=self._env.robot.robot_uid, objects=self._env.scene.get_objects())
        rgb, _ = self._cameras[key].render()
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, :3])

    def close(self) -> None:
        """Disconnect the environment; the simulator cannot be used afterwards."""
        if self._closed:
            return
        with contextlib.redirect_stdout(sys.stderr):  # calvin_env prints on close
            self._env.close()
        # calvin_env's __del__ calls close() again, which would print and fail on the closed
        # client: the environment is closed once, here.
        self._env.close = lambda: None
        self._closed = True
