"""The layering rule: the runtime core loads neither rclpy nor torch."""

import subprocess
import sys

import pytest

CORE_MODULES = [
    'play_lmp_ros.core',
    'play_lmp_ros.core.layout',
    'play_lmp_ros.core.policy',
    'play_lmp_ros.core.scene_info',
    'play_lmp_ros.core.sim',
    'play_lmp_ros.core.skills',
    'play_lmp_ros.core.tasks',
]


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
