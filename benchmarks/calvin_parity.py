"""
Measure the play table against calvin_env side by side: geometry, TCP, skills, oracles.

Needs calvin_env importable (github.com/mees/calvin_env at 797142c, not on PyPI, installed beside
this package).  Prints one JSON object:

- ``link_boxes``: the largest difference (m) between each table link's box at joint 0 here and in
  calvin_env; ``height_map``: a top-down ray-cast height map of both tables on a 2 cm grid.
- ``tcp``: states recorded in this simulator's play, reset in both: distance between the TCPs.
- ``skills_in_calvin_env``: this package's scripted skills run in calvin_env from seeded random
  feasible starts, judged by the oracle on calvin_env's scene info; per task and per task kind.
- ``oracles``: play recorded in each simulator, every frame of every skill judged from the skill's
  start by this package's oracle and by calvin_env's own Tasks (for this simulator's play, on
  calvin_env reset to each recorded state); disagreements per task.

python benchmarks/calvin_parity.py [--trials 10] [--play-skills 40] [--seed 0]
"""

import argparse
import collections
import json
from pathlib import Path
import sys
from typing import Dict, List, Tuple

import numpy as np
from play_lmp_ros.core import layout, skills
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.sim import make_sim
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle, TASKS
from play_lmp_training.evaluate_skills import prepare_start
import pybullet
from tqdm import tqdm

# Every how many frames of each skill recorded here a state is reset in calvin_env.
PLAY_STRIDE = 5


def link_boxes(client: int, table: int) -> Dict[str, np.ndarray]:
    """Return pybullet's box of every table link at joint value 0, by link name."""
    boxes = {}
    for link in range(-1, pybullet.getNumJoints(table, physicsClientId=client)):
        name = ('base_link' if link < 0 else
                pybullet.getJointInfo(table, link, physicsClientId=client)[12].decode())
        boxes[name] = np.asarray(pybullet.getAABB(table, link, physicsClientId=client))
    return boxes


def compare_link_boxes(ours, calvin) -> Dict[str, float]:
    """Reset both tables to joint 0 and compare their link boxes."""
    client = ours._client._client
    for part in ours._table.parts:
        pybullet.resetJointState(part, 0, 0.0, physicsClientId=client)
    for joint in range(pybullet.getNumJoints(calvin._table_uid, physicsClientId=calvin._cid)):
        pybullet.resetJointState(calvin._table_uid, joint, 0.0, physicsClientId=calvin._cid)
    mine = ours.table_link_boxes()
    theirs = link_boxes(calvin._cid, calvin._table_uid)
    return {name: round(float(np.abs(mine[name] - theirs[name]).max()), 4) for name in mine}


def height_maps(ours, calvin, step: float = 0.02) -> Dict[str, float]:
    """
    Compare top-down ray-cast height maps of the two tables, robot and blocks out of the way.

    Call right after compare_link_boxes (every joint at 0).

    :param ours: this package's simulator.
    :param calvin: the calvin_env simulator.
    :param step: grid spacing (m).
    :return: points hit in both, those within 5 mm, the largest difference (m).
    """
    grid = [(x, y) for y in np.arange(-0.29, 0.19, step) for x in np.arange(-0.45, 0.451, step)]
    maps = []
    for client, tables, robot, blocks in (
            (ours._client._client, ours._table.bodies, ours._robot, ours._blocks),
            (calvin._cid, (calvin._table_uid,), calvin._env.robot.robot_uid,
             [block.uid for block in calvin._env.scene.movable_objects])):
        base = pybullet.getBasePositionAndOrientation(robot, physicsClientId=client)
        for body in blocks:
            pybullet.resetBasePositionAndOrientation(body, (5, 5, 5), (0, 0, 0, 1),
                                                     physicsClientId=client)
        pybullet.resetBasePositionAndOrientation(robot, (5, -5, 0), (0, 0, 0, 1),
                                                 physicsClientId=client)
        pybullet.performCollisionDetection(physicsClientId=client)
        hits = pybullet.rayTestBatch([(x, y, 2.0) for x, y in grid],
                                     [(x, y, 0.05) for x, y in grid], physicsClientId=client)
        maps.append(np.array([hit[3][2] if hit[0] in tables else np.nan for hit in hits]))
        pybullet.resetBasePositionAndOrientation(robot, *base, physicsClientId=client)
    both = ~np.isnan(maps[0]) & ~np.isnan(maps[1])
    difference = np.abs(maps[0] - maps[1])[both]
    return {'points': int(both.sum()), 'within_5_mm': int((difference <= 0.005).sum()),
            'max_m': round(float(difference.max()), 4),
            'hit_in_one_only': int((np.isnan(maps[0]) != np.isnan(maps[1])).sum())}


def record_play(sim, count: int, rng: np.random.Generator, with_calvin_info: bool = False):
    """
    Run random feasible skills one after another and keep every frame.

    :param sim: a simulator with the PlayTableSim API.
    :param count: how many skills.
    :param rng: random source.
    :param with_calvin_info: also keep calvin_env's own info dict of each frame.
    :return: list of skills, each a list of (observation, SceneInfo, calvin info or None).
    """
    played = []
    obs = sim.reset_random(int(rng.integers(2 ** 31)))
    for _ in range(count):
        feasible = skills.feasible_tasks(obs)
        if not feasible:
            obs = sim.reset_random(int(rng.integers(2 ** 31)))
            continue
        skill = skills.make_skill(str(rng.choice(feasible)), obs, rng)

        def frame(observation):
            info = sim._env.get_info() if with_calvin_info else None
            return observation.copy(), sim.scene_info(), info

        frames = [frame(obs)]
        while not skill.done and len(frames) <= skill.max_steps:
            obs = sim.step(skill.act(obs))
            frames.append(frame(obs))
        played.append(frames)
    return played


def calvin_tasks():
    """Build calvin_env's own Tasks from its new_playtable_tasks configuration."""
    import calvin_env
    import hydra
    from omegaconf import OmegaConf
    config = Path(calvin_env.__file__).resolve().parents[1] / 'conf' / 'tasks'
    return hydra.utils.instantiate(OmegaConf.load(config / 'new_playtable_tasks.yaml'))


def play_reset_in_calvin(calvin, play, stride: int, oracle, theirs):
    """
    Reset calvin_env to frames of play recorded here and judge them with both oracles.

    :param calvin: the calvin_env simulator.
    :param play: record_play's skills from this package's simulator.
    :param stride: take every stride-th frame of each skill.
    :param oracle: this package's TaskOracle.
    :param theirs: calvin_env's Tasks.
    :return: TCP distances (m) between the recorded and the reset state, and (ours, calvin's)
        task sets per frame, each judged from its skill's start.
    """
    distances, pairs = [], []
    for frames in tqdm(play, desc='our play in calvin_env'):
        calvin.reset(frames[0][0][:layout.ROBOT_OBS_DIM], frames[0][0][layout.ROBOT_OBS_DIM:])
        calvin_start = calvin._env.get_info()
        for obs, info, _ in frames[::stride]:
            state = calvin.reset(obs[:layout.ROBOT_OBS_DIM], obs[layout.ROBOT_OBS_DIM:])
            distances.append(float(np.linalg.norm(state[layout.TCP_POS] - obs[layout.TCP_POS])))
            pairs.append((oracle.get_task_info(frames[0][1], info),
                          theirs.get_task_info(calvin_start, calvin._env.get_info())))
    return distances, pairs


def calvin_play_pairs(play, oracle, theirs):
    """
    Judge every frame of play recorded in calvin_env with both oracles.

    :param play: record_play's skills from calvin_env, with calvin_env's info dicts.
    :param oracle: this package's TaskOracle.
    :param theirs: calvin_env's Tasks.
    :return: (ours, calvin's) task sets per frame, each judged from its skill's start.
    """
    return [(oracle.get_task_info(frames[0][1], info), theirs.get_task_info(frames[0][2], native))
            for frames in play for _, info, native in frames]


def skills_in(sim, trials: int, rng: np.random.Generator):
    """
    Run every task's skill from seeded random feasible starts and count its successes.

    :param sim: a simulator with the PlayTableSim API.
    :param trials: starts per task; a task stops early when no start is found.
    :param rng: random source.
    :return: [successes, trials] per task and per kind of task (the oracle's spec class).
    """
    per_task, per_kind = {}, collections.defaultdict(lambda: [0, 0])
    for task in tqdm(TASK_NAMES, desc='skills'):
        successes = done = 0
        for _ in range(trials):
            if not prepare_start(sim, task, rng):
                break
            done += 1
            successes += skills.run_skill(sim, task, rng).success
        per_task[task] = [successes, done]
        kind = per_kind[type(TASKS[task]).__name__]
        kind[0] += successes
        kind[1] += done
    return per_task, dict(per_kind)


def agreement(pairs) -> Tuple[int, Dict[str, int]]:
    """
    Count the frames where the two oracles name different tasks.

    :param pairs: (ours, calvin's) task sets per frame.
    :return: frames judged, disagreements per task.
    """
    disagreements = collections.Counter()
    for ours, theirs in pairs:
        for task in set(ours) ^ set(theirs):
            disagreements[task] += 1
    return len(pairs), dict(disagreements)


def main(argv: List[str] = None) -> int:
    """Measure and print the JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument('--trials', type=int, default=10, help='skill trials per task')
    parser.add_argument('--play-skills', type=int, default=40, help='skills of recorded play')
    parser.add_argument('--seed', type=int, default=0, help='seed')
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    ours = make_sim('pybullet', seed=args.seed)
    calvin = make_sim('calvin_env', seed=args.seed)
    oracle, theirs = TaskOracle(), calvin_tasks()
    result = {'link_boxes': compare_link_boxes(ours, calvin),
              'height_map': height_maps(ours, calvin)}
    ours.reset_random(args.seed)
    calvin.reset_random(args.seed)

    distances, our_pairs = play_reset_in_calvin(
        calvin, record_play(ours, args.play_skills, rng), PLAY_STRIDE, oracle, theirs)
    result['tcp'] = {'states': len(distances), 'max_mm': round(1000 * max(distances), 2),
                     'mean_mm': round(1000 * float(np.mean(distances)), 2)}

    calvin_pairs = calvin_play_pairs(
        record_play(calvin, args.play_skills, rng, with_calvin_info=True), oracle, theirs)
    result['oracles'] = {}
    for name, pairs in (('our_play_reset_in_calvin_env', our_pairs),
                        ('calvin_env_play', calvin_pairs)):
        frames, disagreements = agreement(pairs)
        result['oracles'][name] = {'frames': frames, 'disagreements': disagreements}

    per_task, per_kind = skills_in(calvin, args.trials, rng)
    result['skills_in_calvin_env'] = {
        'per_task': per_task,
        'per_kind': {kind: round(s / max(t, 1), 3) for kind, (s, t) in per_kind.items()},
        'all': round(sum(s for s, _ in per_task.values())
                     / max(1, sum(t for _, t in per_task.values())), 3)}
    ours.close()
    calvin.close()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
