"""
Adapter running calvin_env's PlayTableSimEnv behind the PlayTableSim API.

calvin_env (github.com/mees/calvin_env) is imported only when CalvinEnvSim is built, never when
play_lmp_ros.core.sim is imported.  The environment is composed from calvin_env's own Hydra
configs (config_data_collection: scene D, panda_longer_finger) with static and gripper cameras
and scene info on.
"""

import logging
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import BlockInfo, ROBOT, SceneInfo, TABLE, TABLE_LINKS

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    'the calvin_env backend needs calvin_env and hydra-core: clone github.com/mees/calvin_env '
    'and pip install -e it (see shared/reference/calvin_and_seed.md section 2.10)')
ACTION_TYPES = {'relative': 'cartesian_rel', 'absolute': 'cartesian_abs'}


class CalvinEnvSim:
    """
    calvin_env with the PlayTableSim API (observe, step, reset, scene_info, render, states).

    Saved states are observation vectors restored with env.reset, so velocities are not kept.
    """

    def __init__(self, seed: int = 0, gui: bool = False):
        """
        Compose and build calvin_env's PlayTableSimEnv.

        :param seed: environment seed.
        :param gui: open pybullet's GUI.
        :raises ImportError: when calvin_env or hydra is not importable.
        """
        try:
            import calvin_env
            import hydra
        except ImportError as error:
            raise ImportError(f'{INSTALL_HINT} ({error})') from error
        config_dir = Path(calvin_env.__file__).resolve().parents[1] / 'conf'
        with hydra.initialize_config_dir(config_dir=str(config_dir), version_base=None):
            config = hydra.compose(
                config_name='config_data_collection', overrides=['cameras=static_and_gripper'])
        for key, value in (('use_egl', False), ('show_gui', gui), ('use_vr', False),
                           ('use_scene_info', True), ('seed', seed)):
            config.env[key] = value
        self._env = hydra.utils.instantiate(config.env)
        self._last_obs = self._env.reset()

    def reset(self, robot_obs=None, scene_obs=None) -> np.ndarray:
        """
        Reset through env.reset.

        :param robot_obs: (15,) or None for calvin_env's neutral robot.
        :param scene_obs: (24,) or None for calvin_env's random scene.
        :return: (39,) observation.
        :raises ValueError: on a state of the wrong size or with non-finite values.
        """
        if robot_obs is not None:
            robot_obs = layout.check_vector(robot_obs, layout.ROBOT_OBS_DIM, 'robot_obs')
        if scene_obs is not None:
            scene_obs = layout.check_vector(scene_obs, layout.SCENE_OBS_DIM, 'scene_obs')
        self._last_obs = self._env.reset(robot_obs=robot_obs, scene_obs=scene_obs)
        return self.observe()

    def reset_random(self, seed: Optional[int] = None) -> np.ndarray:
        """
        Reset to calvin_env's neutral robot and random scene.

        :param seed: reseed the environment first; None continues its stream.
        :return: (39,) observation.
        """
        if seed is not None:
            self._env.seed(seed)
        return self.reset()

    def step(self, action, action_type: str = 'relative') -> np.ndarray:
        """
        Send one action as calvin_env's cartesian_rel or cartesian_abs.

        :param action: (7,) action, see PlayTableSim.step.
        :param action_type: 'relative' or 'absolute'.
        :return: (39,) observation.
        :raises ValueError: on an unknown action_type or an invalid action.
        """
        if action_type == 'relative':
            action = layout.check_relative_action(action)
        elif action_type == 'absolute':
            action = layout.check_absolute_action(action)
        else:
            raise ValueError(
                f'action_type must be one of {tuple(ACTION_TYPES)}, got {action_type!r}')
        self._last_obs, _, _, _ = self._env.step(
            {'action': action, 'type': ACTION_TYPES[action_type]})
        return self.observe()

    def observe(self) -> np.ndarray:
        """
        Return the current observation.

        :return: (39,) robot_obs then scene_obs.
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
        Map env.get_info() to a SceneInfo with named contacts.

        :return: the SceneInfo snapshot.
        """
        info = self._env.get_info()
        scene = info['scene_info']
        table = scene['fixed_objects']['table']
        table_links = {link_id: name for name, link_id in table['links'].items()}
        names = {info['robot_info']['uid']: ROBOT, table['uid']: TABLE}
        names.update({obj['uid']: name for name, obj in scene['movable_objects'].items()})

        def named(contacts) -> frozenset:
            pairs = set()
            for contact in contacts:
                body, link = contact[2], contact[4]
                if body == table['uid']:
                    pairs.add((TABLE, table_links.get(link, TABLE_LINKS[link + 1])))
                else:
                    pairs.add((names.get(body, f'body_{body}'), 'base_link'))
            return frozenset(pairs)

        blocks = {
            name: BlockInfo(
                position=np.asarray(obj['current_pos']),
                orientation=np.asarray(obj['current_orn']),
                linear_velocity=np.asarray(obj['current_lin_vel']),
                angular_velocity=np.asarray(obj['current_ang_vel']),
                contacts=named(obj['contacts']))
            for name, obj in scene['movable_objects'].items()}
        return SceneInfo(
            doors={name: float(door['current_state']) for name, door in scene['doors'].items()},
            lights={name: int(light['logical_state']) for name, light in scene['lights'].items()},
            blocks=blocks, robot_contacts=named(info['robot_info']['contacts']))

    def save_state(self) -> Tuple[np.ndarray, np.ndarray]:
        """
        Save the state as observation vectors.

        :return: token (robot_obs (15,), scene_obs (24,)).
        """
        observation = self.observe()
        return observation[:layout.ROBOT_OBS_DIM], observation[layout.ROBOT_OBS_DIM:]

    def restore_state(self, token: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """
        Restore a saved state with env.reset.

        :param token: from save_state.
        :return: (39,) observation.
        """
        return self.reset(*token)

    def remove_state(self, token: Tuple[np.ndarray, np.ndarray]) -> None:
        """
        Forget a saved state (it holds no simulator resources).

        :param token: from save_state.
        """

    def render(self, camera: str = 'static', size: Optional[int] = None) -> np.ndarray:
        """
        Render one of calvin_env's cameras.

        :param camera: 'static' or 'gripper'.
        :param size: must be None: calvin_env's cameras have fixed sizes.
        :return: (H, W, 3) uint8 RGB.
        :raises ValueError: on an unknown camera or a size.
        """
        if size is not None:
            raise ValueError("the calvin_env backend renders at its cameras' own sizes only")
        for sensor in self._env.cameras:
            if sensor.name == camera:
                rgb, _ = sensor.render()
                return np.asarray(rgb, dtype=np.uint8)[:, :, :3]
        raise ValueError(f'calvin_env has no camera named {camera!r}')

    def close(self) -> None:
        """Close the environment."""
        self._env.close()

    def __enter__(self) -> 'CalvinEnvSim':
        """
        Enter a with block.

        :return: this simulator.
        """
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the simulator at the end of a with block."""
        self.close()
