"""
Command line tool play-lmp-sim: benchmark the simulator or save a picture of the scene.

play-lmp-sim bench [--steps N] [--seed S] prints one JSON object with state-only control steps
per second, static and gripper camera frames per second, and the calvin_env figure when
calvin_env is importable (else null).  play-lmp-sim show --out scene.png renders one camera.
"""

import argparse
import contextlib
import json
import logging
import os
import struct
import sys
import time
from typing import List, Optional
import zlib

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
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


@contextlib.contextmanager
def stdout_to_stderr():
    """Send file descriptor 1 to stderr, so that pybullet's C-level banner stays off stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def bench(steps: int, seed: int) -> dict:
    """
    Measure the PyBullet simulator and, when importable, calvin_env.

    :param steps: number of timed control steps.
    :param seed: simulator and action seed.
    :return: JSON-serialisable figures.
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


def write_png(path: str, image: np.ndarray) -> None:
    """
    Write an RGB image as a PNG file (no dependency beyond zlib).

    :param path: output file; missing parent folders are created.
    :param image: (H, W, 3) uint8.
    """
    height, width, _ = image.shape
    rows = b''.join(b'\x00' + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xffffffff
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', checksum)

    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'wb') as output:
        output.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
                     + chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b''))


def show(out: str, camera: str, seed: int, size: Optional[int]) -> None:
    """
    Render the seeded random scene from one camera and save it.

    :param out: PNG path.
    :param camera: 'static' or 'gripper'.
    :param seed: scene seed.
    :param size: image side in pixels, None for the camera's default.
    """
    with make_sim('pybullet', seed=seed) as sim:
        image = np.ascontiguousarray(sim.render(camera, size=size))
    write_png(out, image)
    logger.info('saved %s (%dx%d)', out, image.shape[1], image.shape[0])


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the play-lmp-sim command line.

    :param argv: arguments without the program name; None reads sys.argv.
    :return: process exit status.
    """
    parser = argparse.ArgumentParser(prog='play-lmp-sim', description=__doc__.split('\n')[1])
    parser.formatter_class = HelpFormatter
    commands = parser.add_subparsers(dest='command', required=True)
    bench_parser = commands.add_parser('bench', help='measure steps/s and frames/s as JSON',
                                       formatter_class=HelpFormatter)
    bench_parser.add_argument('--steps', type=int, default=2000, help='simulator steps to time')
    bench_parser.add_argument('--seed', type=int, default=0, help='scene seed')
    show_parser = commands.add_parser('show', help='save a PNG of the scene',
                                      formatter_class=HelpFormatter)
    show_parser.add_argument('--out', required=True, help='image file to write (PNG)')
    show_parser.add_argument('--camera', choices=('static', 'gripper'), default='static',
                             help='which camera renders')
    show_parser.add_argument('--seed', type=int, default=0, help='scene seed')
    show_parser.add_argument('--size', type=int, default=None,
                             help="image side in pixels (default: the camera's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    if args.command == 'bench':
        if args.steps < 1:
            parser.error('--steps must be at least 1')
        with stdout_to_stderr():
            figures = bench(args.steps, args.seed)
        print(json.dumps(figures))
    else:
        show(args.out, args.camera, args.seed, args.size)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
