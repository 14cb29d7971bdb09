"""The layering rule: the runtime core loads neither rclpy nor torch."""

import pkgutil
import subprocess
import sys

import play_lmp_ros.core
import pytest

# Every module of play_lmp_ros.core, found on disk, so that a new one is checked too.
CORE_MODULES = ['play_lmp_ros.core'] + sorted(
    info.name for info in pkgutil.walk_packages(play_lmp_ros.core.__path__, 'play_lmp_ros.core.'))


@pytest.mark.parametrize('module', CORE_MODULES)
def test_core_imports_neither_rclpy_nor_torch(module):
    """Import a core module in a fresh interpreter and list the forbidden modules it loaded."""
    probe = (
        f'import importlib, sys; importlib.import_module({module!r}); '
        "print(sorted(m for m in ('rclpy', 'torch') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, '-c', probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == '[]', f'{module} loaded {completed.stdout.strip()}'
