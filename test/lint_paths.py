"""The Python sources that the ament linters check: every .py file of the project."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

LINTED_PATHS = [
    str(REPO_ROOT / name)
    for name in ('play_lmp_ros', 'play_lmp_training', 'test', 'benchmarks', 'launch', 'tools',
                 'setup.py')
    if (REPO_ROOT / name).exists()
]
