"""
Measure the simulator: state-only control steps per second and camera frames per second.

``play-lmp-sim bench`` prints measure_speed's figures as JSON.
"""

import logging
import time
from typing import Any, Dict

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import make_sim

logger = logging.getLogger(__name__)

WARM_UP_STEPS = 50
FRAMES_PER_CAMERA = 20


def random_relative_actions(count: int, seed: int) -> np.ndarray:
    """
    Draw random relative actions.

    :param count: number of actions.
    :param seed: generator seed.
    :return: (count, 7) motion uniform in [-1, 1], gripper -1 or +1.
    """
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.0, 1.0, (count, layout.ACTION_DIM))
    actions[:, 6] = rng.choice((layout.GRIPPER_CLOSE, layout.GRIPPER_OPEN), count)
    return actions


def control_steps_per_second(sim, steps: int, seed: int) -> float:
    """
    Time state-only control steps with random relative actions, after a warm-up.

    :param sim: a simulator with the PlayTableSim API.
    :param steps: number of timed steps.
    :param seed: seed of the actions.
    :return: steps per second.
    """
    for action in random_relative_actions(WARM_UP_STEPS, seed + 1):
        sim.step(action)
    actions = random_relative_actions(steps, seed)
    start = time.perf_counter()
    for action in actions:
        sim.step(action)
    return steps / (time.perf_counter() - start)


def frames_per_second(sim, camera: str, frames: int = FRAMES_PER_CAMERA) -> float:
    """
    Time renders of one camera at its default size.

    :param sim: a simulator with the PlayTableSim API.
    :param camera: 'static' or 'gripper'.
    :param frames: number of timed frames.
    :return: frames per second.
    """
    sim.render(camera)
    start = time.perf_counter()
    for _ in range(frames):
        sim.render(camera)
    return frames / (time.perf_counter() - start)


def measure_speed(steps: int, seed: int) -> Dict[str, Any]:
    """
    Measure the PyBullet simulator and, when importable, calvin_env.

    :param steps: number of timed control steps.
    :param seed: simulator and action seed.
    :return: JSON-serialisable figures; calvin_env_state_steps_per_s is None without calvin_env.
    """
    with make_sim('pybullet', seed=seed) as sim:
        result = {
            'backend': 'pybullet',
            'steps': steps,
            'state_steps_per_s': round(control_steps_per_second(sim, steps, seed), 1),
            'static_camera_fps': round(frames_per_second(sim, 'static'), 1),
            'gripper_camera_fps': round(frames_per_second(sim, 'gripper'), 1),
        }
    try:
        calvin = make_sim('calvin_env', seed=seed)
    except ImportError as error:
        logger.info('calvin_env figure skipped: %s', error)
        result['calvin_env_state_steps_per_s'] = None
    else:
        with calvin:
            result['calvin_env_state_steps_per_s'] = round(
                control_steps_per_second(calvin, steps, seed), 1)
    return result
