"""
Measure the simulator: steps per second beside calvin_env's, scene_info() and cameras.

``play-lmp-sim bench`` prints measure_speed's figures as JSON; each key names what it measures.
"""

import logging
import time
from typing import Any, Dict, List, Optional

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import make_sim

logger = logging.getLogger(__name__)

WARM_UP_STEPS = 50
FRAMES_PER_CAMERA = 20
ROUNDS = 5
SCENE_INFO_CALLS = 200


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


def scripted_play_actions(count: int, seed: int) -> np.ndarray:
    """
    Record the actions of scripted play: random feasible skills, closed loop, one after another.

    :param count: number of actions.
    :param seed: scene and skill seed.
    :return: (count, 7) relative actions.
    """
    from play_lmp_ros.core import skills
    rng = np.random.default_rng(seed)
    actions: List[np.ndarray] = []
    with make_sim('pybullet', seed=seed) as sim:
        obs = sim.observe()
        while len(actions) < count:
            feasible = skills.feasible_tasks(obs)
            if not feasible:
                obs = sim.reset_random(int(rng.integers(2 ** 31)))
                continue
            skill = skills.make_skill(str(rng.choice(feasible)), obs, rng)
            while not skill.done and len(actions) < count:
                actions.append(skill.act(obs))
                obs = sim.step(actions[-1])
    return np.asarray(actions)


def control_steps_per_second(sim, steps: int, seed: int,
                             actions: Optional[np.ndarray] = None) -> float:
    """
    Time state-only control steps, after a warm-up.

    :param sim: a simulator with the PlayTableSim API.
    :param steps: number of timed steps.
    :param seed: seed of the random actions.
    :param actions: (>= steps, 7) relative actions to replay instead of random ones.
    :return: steps per second.
    """
    for action in random_relative_actions(WARM_UP_STEPS, seed + 1):
        sim.step(action)
    actions = random_relative_actions(steps, seed) if actions is None else actions[:steps]
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


def scene_info_ms(sim, calls: int, seed: int) -> float:
    """
    Time scene_info() after random steps, one call per step.

    :param sim: a simulator with the PlayTableSim API.
    :param calls: number of timed calls.
    :param seed: seed of the actions between them.
    :return: milliseconds per call.
    """
    spent = 0.0
    for action in random_relative_actions(calls, seed):
        sim.step(action)
        start = time.perf_counter()
        sim.scene_info()
        spent += time.perf_counter() - start
    return 1000.0 * spent / calls


def measure_speed(steps: int, seed: int, rounds: int = ROUNDS) -> Dict[str, Any]:
    """
    Measure the PyBullet simulator and, when importable, calvin_env, in one interleaved run.

    The control steps are state-only in both: no camera, no scene info; calvin_env is built with
    use_scene_info off (its step then queries only the robot's contacts).  Two workloads: random
    relative actions (the arm flails, often against its limits and the table) and scripted play
    (the skills' actions recorded here, replayed from a random scene).  The simulators take turns
    in rounds of steps / rounds, so that both meet the same machine load, and each figure is the
    median over its rounds.

    :param steps: number of timed control steps per simulator.
    :param seed: simulator and action seed.
    :param rounds: turns each simulator takes.
    :return: JSON-serialisable figures; the calvin_env ones are None without calvin_env.
    """
    result: Dict[str, Any] = {'steps': steps, 'rounds': rounds}
    sims = {'pybullet': make_sim('pybullet', seed=seed)}
    try:
        sims['calvin_env'] = make_sim('calvin_env', seed=seed, scene_info_each_step=False)
    except ImportError as error:
        logger.info('calvin_env figures skipped: %s', error)
    try:
        per_round = steps // rounds
        play = scripted_play_actions(per_round * rounds, seed)
        for workload, actions in (('random', None), ('play', play)):
            rates: Dict[str, List[float]] = {name: [] for name in sims}
            for turn in range(rounds):
                chunk = None if actions is None else actions[turn * per_round:]
                for name, sim in sims.items():
                    if chunk is not None:
                        sim.reset_random(seed)
                    rates[name].append(
                        control_steps_per_second(sim, per_round, seed + turn, chunk))
            for name in ('pybullet', 'calvin_env'):
                result[f'{name}_{workload}_steps_per_s'] = (
                    round(float(np.median(rates[name])), 1) if name in rates else None)
            calvin = result[f'calvin_env_{workload}_steps_per_s']
            result[f'{workload}_speedup_over_calvin_env'] = (
                None if calvin is None
                else round(result[f'pybullet_{workload}_steps_per_s'] / calvin, 2))
        for name in ('pybullet', 'calvin_env'):
            result[f'{name}_scene_info_ms'] = (
                round(scene_info_ms(sims[name], SCENE_INFO_CALLS, seed), 3)
                if name in sims else None)
        result['static_camera_fps'] = round(frames_per_second(sims['pybullet'], 'static'), 1)
        result['gripper_camera_fps'] = round(frames_per_second(sims['pybullet'], 'gripper'), 1)
    finally:
        for sim in sims.values():
            sim.close()
    return result
