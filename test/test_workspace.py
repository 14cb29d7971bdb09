"""The ROS route's workspace: both packages found from a standard workspace root."""

import os
from pathlib import Path
import shutil
import subprocess

from catkin_pkg.packages import find_packages
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {'play_lmp_ros', 'play_lmp_interfaces'}


@pytest.fixture
def workspace(tmp_path) -> Path:
    """
    Lay out ~/ws/src as the README says: the repository, and the interfaces symlinked beside it.

    :return: the workspace root.
    """
    src = tmp_path / 'ws' / 'src'
    src.mkdir(parents=True)
    tree = src / 'play_lmp_ros'
    # The tracked files are what a clone holds; build outputs would only slow the search.
    files = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            shutil.copyfile(REPO / name, target)
    (src / 'play_lmp_interfaces').symlink_to(Path('play_lmp_ros') / 'interfaces')
    return src.parent


def test_rosdep_sees_both_packages(workspace):
    """The package search rosdep install --from-paths src uses (catkin_pkg) finds both."""
    found = {package.name for package in find_packages(str(workspace / 'src')).values()}
    assert found == PACKAGES


def test_colcon_sees_both_packages_from_the_workspace_root(workspace):
    """From ~/ws (no defaults file there) colcon lists both, the interfaces first."""
    colcon = shutil.which('colcon')
    if colcon is None:
        pytest.skip('colcon is not installed')
    result = subprocess.run([colcon, 'list', '--topological-order', '--names-only'],
                            cwd=workspace, capture_output=True, text=True, timeout=120,
                            env={**os.environ, 'COLCON_DEFAULTS_FILE': os.devnull})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['play_lmp_interfaces', 'play_lmp_ros']
