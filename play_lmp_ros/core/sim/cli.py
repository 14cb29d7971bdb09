"""
Command line tool play-lmp-sim: benchmark the simulator or save a picture of the scene.

play-lmp-sim bench [--steps N] [--seed S] prints one JSON object with state-only control steps
per second of this simulator and of calvin_env (taking turns in one run; null without
calvin_env) and their ratio, for random actions and for scripted play, the milliseconds of one
scene_info() in each, and static and gripper camera frames per second; the measuring is
play_lmp_ros.core.sim.speed's.
play-lmp-sim show --out scene.png renders one camera.
"""

import argparse
import json
import logging
import os
from typing import List, Optional

import numpy as np
from PIL import Image
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.sim import make_sim
from play_lmp_ros.core.sim.speed import measure_speed
from play_lmp_ros.core.stdout_redirect import stdout_to_stderr

logger = logging.getLogger(__name__)


def show(out: str, camera: str, seed: int, size: Optional[int]) -> None:
    """
    Render the seeded random scene from one camera and save it as a PNG.

    :param out: PNG path; missing parent folders are created.
    :param camera: 'static' or 'gripper'.
    :param seed: scene seed.
    :param size: image side in pixels, None for the camera's default.
    """
    with make_sim('pybullet', seed=seed) as sim:
        image = np.ascontiguousarray(sim.render(camera, size=size))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    Image.fromarray(image).save(out, format='PNG')
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
            figures = measure_speed(args.steps, args.seed)
        print(json.dumps(figures))
    else:
        show(args.out, args.camera, args.seed, args.size)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
