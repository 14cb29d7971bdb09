"""
Benchmarks of play_lmp_ros, run from the repository root: ``python -m benchmarks.<module>``.

They are not installed.  They share the tests' helpers (test/ros_harness.py starts the nodes as
processes, test/onnx_fixtures.py writes the tiny model), which are top-level modules of the test
folder, as pytest.ini's ``pythonpath = . test`` makes them for the tests; that folder goes on
the module path here, after everything else, for the same imports to work.
"""

from pathlib import Path
import sys

TEST_DIR = str(Path(__file__).resolve().parents[1] / 'test')
if TEST_DIR not in sys.path:
    sys.path.append(TEST_DIR)
