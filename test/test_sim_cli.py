"""The play-lmp-sim command: a PNG from show, one JSON object from bench."""

import importlib.util
import json
import struct
import subprocess
import sys

from play_lmp_ros.core.sim import cli


def test_show_writes_a_png_into_a_new_folder(tmp_path):
    """Write a PNG of the requested size, creating missing folders."""
    out = tmp_path / 'pictures' / 'scene.png'
    assert cli.main(['show', '--out', str(out), '--size', '64']) == 0
    data = out.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = struct.unpack('>II', data[16:24])
    assert (width, height) == (64, 64)


def test_bench_prints_one_json_object_on_stdout():
    """Stdout carries only the figures, even though pybullet prints when it connects."""
    completed = subprocess.run(
        [sys.executable, '-m', 'play_lmp_ros.core.sim.cli', 'bench', '--steps', '60'],
        capture_output=True, text=True, check=True, timeout=120)
    figures = json.loads(completed.stdout)
    assert figures['pybullet_random_steps_per_s'] > 0 and figures['static_camera_fps'] > 0
    assert figures['pybullet_play_steps_per_s'] > 0 and figures['pybullet_scene_info_ms'] > 0
    if importlib.util.find_spec('calvin_env') is None:
        assert figures['calvin_env_random_steps_per_s'] is None
        assert figures['play_speedup_over_calvin_env'] is None
