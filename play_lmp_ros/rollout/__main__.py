"""Run the rollout command as ``python -m play_lmp_ros.rollout``."""

import sys

from play_lmp_ros.rollout.cli import main

if __name__ == '__main__':
    sys.exit(main())
