"""
Generate long, continuous scripted play in CALVIN's dataset format.

    python -m play_lmp_training.collect --out data/play --frames 50000 --workers 2

Play is a stream of random feasible skills from play_lmp_ros.core.skills, biased the way good
human play is (see the learning-from-play notes): after an interaction the player often retries a
failed task or keeps playing with the object just touched (open the drawer, then close it; lift a
block, then stack it) before moving on.  Variety comes from per-skill speed changes and action
noise, free-space motions and short idles.  Every successful skill, as judged by CALVIN's oracle,
becomes a language-annotation window.

Episodes (continuous play segments of ``--episode-frames``) are generated independently from
(seed, episode index), in worker processes, and committed in order by CalvinWriter: an interrupted
run continues after its last committed episode with ``--resume`` (the default), and what was
written is never rewritten.  Frame files are not flushed to disk one by one, so after a power cut
the newest committed ones can be truncated: a resumed run first reads back the last committed
episodes, drops the damaged ones (and every episode after them) with a warning, and generates
them again, identically.  Every tenth episode goes to the validation split, so a run needs at
least ten episodes; fewer are refused before anything is written.
"""

import argparse
from dataclasses import asdict, dataclass, field
import json
import logging
import multiprocessing
from pathlib import Path
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout, skills
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.sim import PlayTableSim
from play_lmp_ros.core.stdout_redirect import stdout_to_stderr
from play_lmp_training.calvin_dataset import CalvinWriter, DatasetError
from play_lmp_training.calvin_dataset import files
from play_lmp_training.calvin_dataset.writer import _RunningMoments
from tqdm import tqdm

logger = logging.getLogger(__name__)

VALIDATION_EVERY = 10
# Random scenes drawn at most for one segment that should start with a playable block.
BLOCK_SCENE_DRAWS = 50


@dataclass(frozen=True)
class PlayConfig:
    """
    How the scripted player behaves.

    :param episode_frames: length of one continuous play segment.
    :param revisit_probability: chance of staying with the object just touched (retry a failed
        task, or another task on the same object) instead of choosing anew.
    :param free_motion_probability: chance of a free-space motion between skills.
    :param idle_probability: chance of a short idle between skills.
    :param speed_range: per-skill speed factor, uniform in this range.
    :param noise_range: per-skill std of Gaussian noise on the motion dims, uniform in this range.
    :param block_weight: how much more often a playable block is chosen than the door, the drawer
        or a light.
    :param block_scene_probability: chance that a segment starts from a scene where a block can
        be played with (random scenes are redrawn until one is, at most BLOCK_SCENE_DRAWS times);
        any block task is feasible in only about one random scene in ten.
    :param images: render rgb_static and rgb_gripper for every frame (slow).
    """

    episode_frames: int = 500
    revisit_probability: float = 0.5
    free_motion_probability: float = 0.1
    idle_probability: float = 0.05
    speed_range: Tuple[float, float] = (0.7, 1.2)
    noise_range: Tuple[float, float] = (0.0, 0.15)
    block_weight: float = 12.0
    block_scene_probability: float = 0.8
    images: bool = False

    def __post_init__(self):
        """Reject settings that cannot produce play."""
        if self.episode_frames < 64:
            raise ValueError(f'episode_frames must be at least 64, got {self.episode_frames}')
        for name in ('revisit_probability', 'free_motion_probability', 'idle_probability',
                     'block_scene_probability'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must lie in [0, 1], got {getattr(self, name)}')
        if not 0.0 < self.speed_range[0] <= self.speed_range[1]:
            raise ValueError(f'speed_range must be 0 < low <= high, got {self.speed_range}')
        if self.block_weight <= 0.0:
            raise ValueError(f'block_weight must be positive, got {self.block_weight}')
        if not 0.0 <= self.noise_range[0] <= self.noise_range[1] <= 1.0:
            raise ValueError(f'noise_range must be 0 <= low <= high <= 1, got {self.noise_range}')


@dataclass
class EpisodeRecord:
    """
    One generated play segment, ready for the writer.

    :param index: global episode index.
    :param robot_obs: (T, 15) observations before each action.
    :param scene_obs: (T, 24).
    :param actions: (T, 7) absolute actions as CALVIN records them: the TCP pose reached at the
        next frame plus the commanded gripper.
    :param images: per-frame dicts of rgb_static / rgb_gripper, or None.
    :param annotations: (task, first frame, last frame) offsets inside the episode.
    :param attempts: task -> [attempts, successes].
    """

    index: int
    robot_obs: np.ndarray
    scene_obs: np.ndarray
    actions: np.ndarray
    images: Optional[List[Dict[str, np.ndarray]]] = None
    annotations: List[Tuple[str, int, int]] = field(default_factory=list)
    attempts: Dict[str, List[int]] = field(default_factory=dict)


def instruction_for(task: str) -> str:
    """
    Return a plain English instruction for a task name.

    :param task: one of the 34 task names.
    :return: e.g. 'open the drawer' or 'lift the red block from the table'.
    """
    words = task.split('_')
    special = {
        'move_slider_left': 'slide the door to the left',
        'move_slider_right': 'slide the door to the right',
        'turn_on_led': 'press the button to turn on the green light',
        'turn_off_led': 'press the button to turn off the green light',
        'turn_on_lightbulb': 'move the switch to turn on the light bulb',
        'turn_off_lightbulb': 'move the switch to turn off the light bulb',
        'stack_block': 'stack the blocks on top of each other',
        'unstack_block': 'take the top block off the stack',
        'place_in_slider': 'place the block in the sliding cabinet',
        'place_in_drawer': 'place the block in the drawer',
        'push_into_drawer': 'push the block into the drawer',
    }
    if task in special:
        return special[task]
    if words[0] == 'lift':
        where = {'table': 'the table', 'slider': 'the sliding cabinet', 'drawer': 'the drawer'}
        return f'lift the {words[1]} block from {where[words[3]]}'
    if words[0] in ('push', 'rotate'):
        return f'{words[0]} the {words[1]} block to the {words[3]}'
    return ' '.join(words[:1] + ['the'] + words[1:])


class _Recorder:
    """
    Step a simulator and keep CALVIN's frames.

    A frame is the observation before an action; its absolute action is the TCP pose reached
    after it plus the commanded gripper, as CALVIN's data renderer records them.
    """

    def __init__(self, sim: PlayTableSim, obs: np.ndarray, images: bool):
        """
        Start recording from an observation.

        :param sim: the simulator to step.
        :param obs: (39,) its current observation.
        :param images: also render rgb_static and rgb_gripper before every action.
        """
        self._sim = sim
        self.obs = obs
        self.gripper = float(obs[layout.GRIPPER_ACTION])
        self.frames: List[np.ndarray] = []
        self.actions: List[np.ndarray] = []
        self.images: Optional[List[Dict[str, np.ndarray]]] = [] if images else None

    def __len__(self) -> int:
        """Return the number of recorded frames."""
        return len(self.frames)

    def step(self, relative: np.ndarray) -> np.ndarray:
        """
        Record the current frame, apply a relative action and record the pose it reached.

        :param relative: (7,) relative action.
        :return: (39,) observation after the step.
        """
        self.frames.append(self.obs)
        if self.images is not None:
            self.images.append({'rgb_static': self._sim.render('static'),
                                'rgb_gripper': self._sim.render('gripper')})
        self.gripper = float(relative[6])
        self.obs = self._sim.step(relative)
        self.actions.append(
            np.concatenate([self.obs[layout.TCP_POS], self.obs[layout.TCP_ORN], [self.gripper]]))
        return self.obs


def has_playable_block(obs: np.ndarray) -> bool:
    """
    Tell whether a skill can play with any block from a state.

    :param obs: (39,) observation.
    :return: True when some block task is feasible.
    """
    return any(skills.TASK_OBJECTS[task].startswith('block')
               for task in skills.feasible_tasks(obs))


class ScriptedPlayer:
    """Drive one simulator through continuous scripted play."""

    def __init__(self, sim: PlayTableSim, config: PlayConfig):
        """
        Wrap a simulator.

        :param sim: the simulator, owned by the caller.
        :param config: player behaviour.
        """
        self._sim = sim
        self._config = config

    def play_episode(self, index: int, seed: int) -> EpisodeRecord:
        """
        Generate one play segment from a seeded random scene.

        :param index: global episode index (also seeds the episode with ``seed``).
        :param seed: base seed of the whole dataset.
        :return: the recorded episode.
        """
        rng = np.random.default_rng([seed, index])
        config = self._config
        recorder = _Recorder(self._sim, self._start_scene(rng), config.images)
        annotations: List[Tuple[str, int, int]] = []
        attempts: Dict[str, List[int]] = {}
        previous: Optional[Tuple[str, bool]] = None
        while len(recorder) < config.episode_frames:
            budget = config.episode_frames - len(recorder)
            draw = rng.random()
            if draw < config.idle_probability:
                for _ in range(min(budget, int(rng.integers(5, 20)))):
                    recorder.step(np.array([0, 0, 0, 0, 0, 0, recorder.gripper]))
                continue
            task = None
            if draw >= config.idle_probability + config.free_motion_probability:
                task = self._choose_task(recorder.obs, previous, rng)
            if task is None:
                self._free_motion(rng, recorder, budget)
                continue
            first_frame = len(recorder)
            low, high = config.speed_range
            run = skills.run_skill(self._sim, task, rng, speed=float(rng.uniform(low, high)),
                                   noise=float(rng.uniform(*config.noise_range)),
                                   max_steps=budget, step=recorder.step)
            counts = attempts.setdefault(task, [0, 0])
            counts[0] += 1
            if run.success:
                counts[1] += 1
                # The window ends at the frame whose action completed the task.
                annotations.append((task, first_frame, first_frame + run.achieved_step - 1))
            previous = (task, run.success)
        frames = np.array(recorder.frames)
        return EpisodeRecord(index, frames[:, :layout.ROBOT_OBS_DIM],
                             frames[:, layout.ROBOT_OBS_DIM:], np.array(recorder.actions),
                             recorder.images, annotations, attempts)

    def _start_scene(self, rng: np.random.Generator) -> np.ndarray:
        """Reset to a random scene, redrawn towards one with a playable block if asked to."""
        obs = self._sim.reset_random(seed=int(rng.integers(2 ** 31)))
        if rng.random() >= self._config.block_scene_probability:
            return obs
        for _ in range(BLOCK_SCENE_DRAWS - 1):
            if has_playable_block(obs):
                break
            obs = self._sim.reset_random(seed=int(rng.integers(2 ** 31)))
        return obs

    def _choose_task(self, obs: np.ndarray, previous: Optional[Tuple[str, bool]],
                     rng: np.random.Generator) -> Optional[str]:
        """Pick the next task: revisit the last object with some probability, else any object."""
        feasible = skills.feasible_tasks(obs)
        if not feasible:
            return None
        if previous is not None and rng.random() < self._config.revisit_probability:
            task, succeeded = previous
            if not succeeded and task in feasible:
                return task
            touched = skills.TASK_OBJECTS[task]
            same_object = [t for t in feasible if skills.TASK_OBJECTS[t] == touched]
            if same_object:
                return str(rng.choice(same_object))
        # Pick an object to play with first, then one of its tasks.  The door, the drawer and the
        # lights are nearly always feasible while each block task is feasible in about one random
        # scene in ten, so blocks are favoured whenever they can be played with.
        objects = sorted({skills.TASK_OBJECTS[t] for t in feasible})
        weights = np.array([self._config.block_weight if o.startswith('block') else 1.0
                            for o in objects])
        chosen = objects[int(rng.choice(len(objects), p=weights / weights.sum()))]
        return str(rng.choice([t for t in feasible if skills.TASK_OBJECTS[t] == chosen]))

    def _free_motion(self, rng: np.random.Generator, recorder: _Recorder, budget: int) -> None:
        """Move the TCP towards a random point above the table, gripper unchanged."""
        target = np.array([rng.uniform(-0.25, 0.3), rng.uniform(-0.3, 0.05),
                           rng.uniform(0.5, 0.7)])
        for _ in range(min(budget, int(rng.integers(15, 45)))):
            error = target - recorder.obs[layout.TCP_POS]
            if np.linalg.norm(error) < 0.01:
                break
            motion = np.clip(error / layout.MAX_REL_POS_M, -1.0, 1.0)
            recorder.step(np.concatenate([motion, np.zeros(3), [recorder.gripper]]))


_WORKER_CONFIG: Optional[PlayConfig] = None


def _init_worker(config: PlayConfig) -> None:
    """Keep the player behaviour for this worker process."""
    global _WORKER_CONFIG
    _WORKER_CONFIG = config


# Each segment gets a fresh simulator: PyBullet keeps contact state that a reset does not clear,
# so a shared one would make a segment depend on the segments its worker played before (and so
# on --workers, the job order and a resume).  Building one costs about 0.1 s per segment.
def _play(job: Tuple[int, int]) -> EpisodeRecord:
    """Generate episode ``index`` of dataset ``seed`` in a worker, in a fresh simulator."""
    index, seed = job
    with stdout_to_stderr():
        sim = PlayTableSim()
    with sim:
        return ScriptedPlayer(sim, _WORKER_CONFIG).play_episode(index, seed)


def split_of(index: int) -> str:
    """
    Return the split an episode belongs to.

    :param index: global episode index.
    :return: 'validation' for every tenth episode, else 'training'.
    """
    return 'validation' if index % VALIDATION_EVERY == VALIDATION_EVERY - 1 else 'training'


def committed_prefix(counts: Dict[str, int]) -> int:
    """
    Return how many episodes, in global order, the two splits already hold.

    Episodes are committed in global order, so the committed ones form a prefix whose split
    counts equal the writers' episode counts.

    :param counts: committed episodes per split.
    :return: the length of that prefix.
    :raises ValueError: when the counts cannot come from one prefix (a foreign dataset).
    """
    seen = {'training': 0, 'validation': 0}
    index = 0
    while seen != counts:
        split = split_of(index)
        if seen[split] >= counts.get(split, 0):
            raise ValueError(
                f'the splits hold {counts} episodes, which no run of this generator produces')
        seen[split] += 1
        index += 1
    return index


def minimum_frames(episode_frames: int) -> int:
    """
    Return the fewest frames of a dataset whose validation split is not empty.

    :param episode_frames: frames per episode.
    :return: VALIDATION_EVERY episodes' worth: the last of them is the first validation episode.
    """
    return VALIDATION_EVERY * episode_frames


def _frame_damage(split_dir: Path, episode: Tuple[int, int]) -> Optional[str]:
    """
    Read back every frame file of one committed episode.

    :param split_dir: the split directory.
    :param episode: inclusive (start, end) frame ids.
    :return: what is wrong with the first damaged frame file, or None when all are sound.
    """
    for frame_id in range(episode[0], episode[1] + 1):
        path = split_dir / files.frame_file_name(frame_id)
        try:
            files.read_frame_states(path)
        except FileNotFoundError:
            return f'{path} is missing'
        except DatasetError as error:
            return str(error)
    return None


def _keep_episodes(writer: CalvinWriter, keep: int) -> None:
    """
    Keep only the first ``keep`` committed episodes of a split, as if the others never were.

    The manifest is rewritten with those episodes, their annotations and their statistics, which
    are recomputed from their frame files episode by episode in order (so they come out exactly
    as the first run computed them); the later frame files are deleted.  This works on
    CalvinWriter's own state: it belongs there, as a method, once the writer may be changed.

    :param writer: an open writer with no episode open.
    :param keep: how many committed episodes stay, at most writer.num_episodes.
    :raises DatasetError: if a frame file of a kept episode cannot be read.
    """
    kept = writer.episodes[:keep]
    moments = _RunningMoments()
    for start, end in kept:
        arrays = [files.read_frame_states(writer.split_dir / files.frame_file_name(frame_id))
                  for frame_id in range(start, end + 1)]
        obs = np.stack([np.concatenate([frame['robot_obs'], frame['scene_obs']])
                        for frame in arrays]).astype(np.float64)
        actions = np.stack([frame['actions'] for frame in arrays]).astype(np.float64)
        moments.merge(obs, actions)
    next_id = kept[-1][1] + 1 if kept else 0
    writer._episodes = kept
    writer._annotations = [item for item in writer._annotations if item['end'] < next_id]
    writer._moments = moments
    writer._committed_next_id = next_id
    writer.finalized = False
    writer._write_manifest()
    writer._discard_uncommitted_files()


def drop_damaged_episodes(writers: Dict[str, CalvinWriter], done: int) -> int:
    """
    Find damaged frame files at the end of the committed episodes and drop them.

    Frame files are renamed into place but not flushed to disk one by one: a killed process
    cannot truncate one, a power cut or a full disk can, and then it is among the newest.  So
    each split's committed episodes are read back from the last one until one is sound.  The
    first damaged episode in global order and every episode after it, in both splits, are
    dropped (logged as a warning), so that the committed episodes stay one prefix of the global
    order and are generated again.  Damage further back is not looked for here; the dataset
    reader refuses any damaged file it meets.

    :param writers: 'training' and 'validation' writers, as opened for a resume.
    :param done: the committed prefix of the global episode order (committed_prefix).
    :return: the committed prefix that is left.
    """
    global_indices = {split: [index for index in range(done) if split_of(index) == split]
                      for split in writers}
    cut = done
    problems = []
    for split, writer in writers.items():
        for local in range(writer.num_episodes - 1, -1, -1):
            problem = _frame_damage(writer.split_dir, writer.episodes[local])
            if problem is None:
                break
            cut = min(cut, global_indices[split][local])
            problems.append(problem)
    if cut == done:
        return done
    logger.warning('damaged committed episodes (%d): %s', len(problems),
                   '; '.join(problems[:3]) + ('; ...' if len(problems) > 3 else ''))
    for split, writer in writers.items():
        keep = sum(1 for index in global_indices[split] if index < cut)
        if keep < writer.num_episodes:
            dropped = writer.episodes[keep:]
            logger.warning('%s: dropping the last %d committed episodes (frames %d-%d), from '
                           'episode %d of the run on; they are generated again',
                           writer.split_dir, len(dropped), dropped[0][0], dropped[-1][1], cut)
            _keep_episodes(writer, keep)
    return cut


def generate(out: Path, frames: int, seed: int, workers: int, config: PlayConfig,
             progress: bool = True) -> Dict[str, object]:
    """
    Generate (or continue generating) a play dataset.

    :param out: dataset root; training/ and validation/ are created inside.
    :param frames: total frames wanted over both splits, at least minimum_frames.
    :param seed: base seed.
    :param workers: worker processes.
    :param config: player behaviour.
    :param progress: show a progress bar.
    :return: a summary: frames, episodes, seconds, frames per second, per-task success.
    :raises ValueError: for fewer frames than minimum_frames (nothing is written then).
    :raises DatasetExistsError: for a directory holding another dataset.
    :raises DatasetError: for a dataset whose committed frames cannot be read back.
    """
    episodes_asked = -(-frames // config.episode_frames)
    if episodes_asked < VALIDATION_EVERY:
        raise ValueError(
            f'{frames} frames make {episodes_asked} episodes of {config.episode_frames} frames, '
            f'but only every {VALIDATION_EVERY}th episode goes to the validation split, which '
            f'would stay empty: ask for at least {minimum_frames(config.episode_frames)} frames '
            f'({VALIDATION_EVERY} episodes), or for shorter episodes')
    settings = {'seed': seed, 'config': asdict(config)}
    writers = {split: CalvinWriter.open_existing(out, split, images=config.images,
                                                 dataset_id='scripted-play', settings=settings)
               for split in ('training', 'validation')}
    done = committed_prefix({split: w.num_episodes for split, w in writers.items()})
    done = drop_damaged_episodes(writers, done)
    done_frames = sum(w.num_frames for w in writers.values())
    episodes_wanted = max(done, episodes_asked)
    attempts: Dict[str, List[int]] = {}
    started = time.perf_counter()
    new_frames = 0
    jobs = [(index, seed) for index in range(done, episodes_wanted)]
    with tqdm(total=episodes_wanted * config.episode_frames, initial=done_frames,
              unit='frame', disable=not progress, desc='play') as bar:
        for record in _records(jobs, workers, config):
            _commit(writers[split_of(record.index)], record)
            for task, (tried, succeeded) in record.attempts.items():
                totals = attempts.setdefault(task, [0, 0])
                totals[0] += tried
                totals[1] += succeeded
            new_frames += len(record.actions)
            bar.update(len(record.actions))
    elapsed = time.perf_counter() - started
    for writer in writers.values():
        writer.finalize()
    return {
        'out': str(out),
        'frames': sum(w.num_frames for w in writers.values()),
        'episodes': {split: w.num_episodes for split, w in writers.items()},
        'new_frames': new_frames,
        'seconds': round(elapsed, 2),
        'frames_per_second': round(new_frames / elapsed, 1) if new_frames else None,
        'workers': workers,
        'skill_success': {task: f'{s}/{n}' for task, (n, s) in sorted(attempts.items())},
    }


def _records(jobs: Sequence[Tuple[int, int]], workers: int,
             config: PlayConfig) -> Iterator[EpisodeRecord]:
    """Yield generated episodes in job order, from this process or a pool."""
    if workers <= 1:
        _init_worker(config)
        for job in jobs:
            yield _play(job)
        return
    context = multiprocessing.get_context('spawn')
    with context.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
        yield from pool.imap(_play, jobs)


def _commit(writer: CalvinWriter, record: EpisodeRecord) -> None:
    """Write one episode and its annotations, then commit it."""
    writer.begin_episode()
    first_id = writer.next_frame_id
    for t in range(len(record.actions)):
        writer.add_frame(record.robot_obs[t], record.scene_obs[t], record.actions[t],
                         record.images[t] if record.images is not None else None)
    for task, start, end in record.annotations:
        writer.add_annotation(task, first_id + start, first_id + end, instruction_for(task))
    writer.end_episode()


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the play generator from the command line.

    :param argv: arguments, sys.argv[1:] when None.
    :return: process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--out', type=Path, required=True, help='dataset root directory')
    parser.add_argument('--frames', type=int, default=50000, help='total frames, both splits')
    parser.add_argument('--seed', type=int, default=0, help='seed')
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--episode-frames', type=int, default=PlayConfig.episode_frames,
                        help='frames per continuous play segment')
    parser.add_argument('--block-weight', type=float, default=PlayConfig.block_weight,
                        help='how much more often a playable block is chosen than another object')
    parser.add_argument('--block-scenes', type=float,
                        default=PlayConfig.block_scene_probability,
                        help='chance that a segment starts from a scene with a playable block')
    parser.add_argument('--images', action='store_true',
                        help='render rgb_static and rgb_gripper for every frame (slow)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    try:
        config = PlayConfig(episode_frames=args.episode_frames, block_weight=args.block_weight,
                            block_scene_probability=args.block_scenes, images=args.images)
        if args.frames < 1 or args.workers < 1:
            raise ValueError('--frames and --workers must be positive')
        summary = generate(args.out, args.frames, args.seed, args.workers, config,
                           progress=not args.no_progress)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
