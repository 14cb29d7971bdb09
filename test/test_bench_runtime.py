"""The runtime benchmark: figures from synthetic streams, short real runs (no timing checks)."""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import List

from benchmarks.bench_runtime import (
    Arrival, counter_changes, FIXTURE_SOURCE, period_stats, stream_figures, summary_ms)
from onnx_fixtures import write_model_dir
import pytest
from ros_harness import REPO_ROOT

RUN_TIMEOUT_S = 150.0
SUMMARY_KEYS = {'n', 'mean_ms', 'p50_ms', 'p99_ms', 'max_ms'}
PERIOD_KEYS = {'n', 'mean_ms', 'std_ms', 'p99_abs_dev_ms', 'max_abs_dev_ms'}
MODE_SUMMARIES = ('latency', 'latency_at_receipt', 'observation_transport')
MODE_PERIODS = ('action_period', 'action_period_published', 'observation_period',
                'observation_period_published')
MODE_COUNTS = ('observations', 'actions', 'actions_without_observation_stamp', 'hold_actions',
               'repeated_answers', 'observations_answered')


def arrival(at_ms: float, stamp_ms: float, hold: bool = False) -> Arrival:
    """
    Build a probe record with every clock at the same instant.

    :param at_ms: arrival time (ms).
    :param stamp_ms: header stamp (ms); 0 for none.
    :param hold: an action without motion.
    :return: the record.
    """
    at_ns, stamp_ns = int(at_ms * 1e6), int(stamp_ms * 1e6)
    return Arrival(at_ns, at_ns, stamp_ns, at_ns, at_ns, hold)


def test_figures_pair_each_action_with_the_observation_it_answers():
    """Latency uses the action's stamp; repeats, unstamped holds and unanswered ones counted."""
    observations = [arrival(100.0 * k + 1.0, 100.0 * k) for k in range(1, 5)]
    actions = [arrival(102.0, 100.0), arrival(205.0, 200.0), arrival(304.0, 200.0),
               arrival(410.0, 0.0, hold=True)]
    figures = stream_figures(observations, actions, period_s=0.1)
    assert {key: figures[key] for key in MODE_COUNTS} == {
        'observations': 4, 'actions': 4, 'actions_without_observation_stamp': 1,
        'hold_actions': 1, 'repeated_answers': 1, 'observations_answered': 2}
    assert figures['latency']['n'] == 3
    assert figures['latency']['max_ms'] == pytest.approx(104.0)
    assert figures['latency']['p50_ms'] == pytest.approx(5.0)
    assert figures['observation_transport']['mean_ms'] == pytest.approx(1.0)
    assert figures['observation_period']['std_ms'] == pytest.approx(0.0)
    assert figures['action_period']['max_abs_dev_ms'] == pytest.approx(6.0)


def test_empty_streams_give_empty_figures():
    """No samples: counts of zero and None values, never an exception."""
    assert summary_ms([]) == dict.fromkeys(SUMMARY_KEYS, None) | {'n': 0}
    assert period_stats([5], 0.1) == dict.fromkeys(PERIOD_KEYS, None) | {'n': 0}
    assert counter_changes({'steps': '3', 'mode': 'x'}, {'steps': '10', 'mode': 'y'},
                           ('steps', 'mode', 'absent')) == {'steps': 7}


def test_unknown_dds_timestamps_are_left_out():
    """Without the message info (rclpy before Iron) only the probe's own clocks count."""
    observations = [Arrival(int(k * 1e8) + 10, int(k * 1e8) + 10, int(k * 1e8), 0, 0)
                    for k in range(1, 4)]
    actions = [Arrival(obs.wall_ns + 1000, obs.mono_ns + 1000, obs.stamp_ns, 0, 0)
               for obs in observations]
    figures = stream_figures(observations, actions, period_s=0.1)
    assert figures['latency']['n'] == 3 and figures['latency_at_receipt']['n'] == 0
    assert figures['action_period']['n'] == 2 and figures['action_period_published']['n'] == 0
    assert figures['observation_period_published']['n'] == 0


def group_members(group: int) -> List[int]:
    """
    List the processes of a process group.

    :param group: the process group id.
    :return: their pids.
    """
    members = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group:
            members.append(int(stat.parent.name))
    return members


def command_line(pid: int) -> str:
    """
    Return a process's command line.

    :param pid: the process id.
    :return: its arguments joined by spaces, or '' when it has gone.
    """
    try:
        return Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ').decode()
    except OSError:
        return ''


class Bench:
    """`python -m benchmarks.bench_runtime` run in a process group of its own."""

    def __init__(self, *arguments: str):
        """
        Start it.

        :param arguments: command-line arguments.
        """
        # SIGINT at its default, as in a terminal: a test run started in the background (as
        # CI scripts are) inherits it ignored, and Python then never raises KeyboardInterrupt.
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'benchmarks.bench_runtime', *arguments], cwd=REPO_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def finish(self, timeout: float = RUN_TIMEOUT_S):
        """
        Wait for the exit and check that no process of the run is left.

        :param timeout: seconds to wait at most.
        :return: exit code, stdout, stderr.
        """
        stdout, stderr = self.process.communicate(timeout=timeout)
        assert group_members(self.process.pid) == [], 'node processes outlived the benchmark'
        return self.process.returncode, stdout, stderr

    def kill(self) -> None:
        """Kill the run and its node processes if anything is left."""
        if group_members(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.communicate(timeout=10.0)


def check_mode(figures: dict) -> None:
    """
    Check the structure of one policy mode's figures.

    :param figures: cross_process.modes[mode].
    """
    for key in MODE_SUMMARIES:
        assert set(figures[key]) == SUMMARY_KEYS, key
    for key in MODE_PERIODS:
        assert set(figures[key]) == PERIOD_KEYS, key
    for key in MODE_COUNTS:
        assert isinstance(figures[key], int), key
    assert figures['seconds'] > 0.0
    # Every action carries the stamp of an observation: the policy answered the goal.
    assert figures['actions'] > 0 and figures['actions_without_observation_stamp'] == 0
    assert figures['latency']['n'] == figures['actions']
    assert figures['observations_answered'] > 0
    assert figures['action_period']['n'] == figures['actions'] - 1
    assert 'actions_published' in figures['policy_diagnostics']
    assert 'steps' in figures['sim_diagnostics']


def test_scripted_run_reports_every_figure_as_json(ros_domain):
    """Both policy modes measured; the policy step ran on a model that is named."""
    bench = Bench('--backend', 'scripted', '--seconds', '2', '--steps', '200', '--json')
    try:
        code, stdout, stderr = bench.finish()
    finally:
        bench.kill()
    assert code == 0, stderr
    report = json.loads(stdout)
    assert set(report) == {'machine', 'settings', 'policy_step', 'cross_process'}
    assert len(report['machine']['load_average_before']) == 3
    assert report['settings']['backend'] == 'scripted'
    step = report['policy_step']
    assert step['model_source'] in (FIXTURE_SOURCE, 'bundled default')
    assert step['steps']['n'] == 200
    assert (step['replanning_steps']['n'] + step['other_steps']['n']) == 200
    assert step['providers'][-1] == 'CPUExecutionProvider'
    cross = report['cross_process']
    assert cross['tasks'] and list(cross['modes']) == ['realtime', 'lockstep']
    for figures in cross['modes'].values():
        check_mode(figures)
        assert figures['goals_sent'] >= 0 and 'held_skill_done' in figures['policy_diagnostics']


def test_onnx_run_on_a_given_model_prints_a_table(ros_domain, tmp_path):
    """The onnx backend on a given model, lockstep only, as the human-readable table."""
    model_dir = write_model_dir(tmp_path)
    bench = Bench('--model-dir', str(model_dir), '--policy-modes', 'lockstep',
                  '--seconds', '1', '--steps', '100')
    try:
        code, stdout, stderr = bench.finish()
    finally:
        bench.kill()
    assert code == 0, stderr
    assert 'model: given, lmp, replanning every 5 steps' in stdout
    assert 'policy lockstep' in stdout and 'policy realtime' not in stdout
    assert 'obs->action latency' in stdout


def test_bad_model_and_arguments_fail_with_a_message(ros_domain, tmp_path):
    """A missing model exits 1 naming it; bad arguments exit 2."""
    bench = Bench('--model-dir', str(tmp_path / 'nowhere'), '--steps', '10')
    try:
        code, _, stderr = bench.finish()
    finally:
        bench.kill()
    assert code == 1 and 'nowhere' in stderr and 'does not exist' in stderr
    for arguments in (['--policy-modes', 'sometimes'], ['--seconds', '0'],
                      ['--backend', 'scripted', '--model-dir', str(tmp_path)]):
        bench = Bench(*arguments)
        try:
            code, _, _ = bench.finish()
        finally:
            bench.kill()
        assert code == 2, arguments


def test_ctrl_c_stops_every_node_process(ros_domain):
    """SIGINT to the benchmark mid-run: exit 130, no node process left behind."""
    bench = Bench('--backend', 'scripted', '--seconds', '60', '--steps', '50')
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        # Only a node's own command line says the run is past its imports: a helper that a
        # library starts while loading would also join the group.
        while not any('play_lmp_ros.sim_node' in command_line(pid)
                      for pid in group_members(bench.process.pid)):
            assert bench.process.poll() is None, bench.process.communicate()[1]
            assert time.monotonic() < deadline, 'no node process started'
            time.sleep(0.1)
        bench.process.send_signal(signal.SIGINT)
        code, _, stderr = bench.finish()
    finally:
        bench.kill()
    assert code == 130, (code, stderr[-2000:])
    assert 'interrupted' in stderr
