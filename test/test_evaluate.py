"""The evaluation's statistics, baselines, goal sources, chains and CLI checks, on tiny inputs."""

import json
from pathlib import Path

import numpy as np
from onnx_fixtures import D_LATENT, HIDDEN_SIZE, MIXTURES, write_model_dir
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import GoalJudge
from play_lmp_ros.core.policies import HOLD_NO_SKILL, HoldPolicy, OpenGripperPolicy
from play_lmp_ros.core.policy import OnnxPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility
from play_lmp_ros.core.tasks import TASK_CATEGORIES, TaskOracle
from play_lmp_training import baselines, evaluate
from play_lmp_training.evaluation.episodes import (CHAIN_LENGTH, choose_validation, make_chain,
                                                   make_chains, single_episodes,
                                                   validation_episodes)
from play_lmp_training.evaluation.reports import chain_markdown, single_markdown
from play_lmp_training.evaluation.rollouts import make_policy, PolicySpec, run_episode
from play_lmp_training.evaluation.summaries import (bin_labels, distance_bin, mark_trivial,
                                                    mean_interval, summarize_chain,
                                                    summarize_single, trivial_flags,
                                                    wilson_interval)
import pytest
from subgoal_fixtures import train_tiny_subgoal, write_planned_model_dir


def _result(task, success, trivial=False, source='imagined', index=0, distance=10):
    """Build one synthetic per-episode result."""
    return {'index': index, 'task': task, 'source': source, 'distance': distance,
            'success': success, 'steps': 10, 'reason': '', 'trivial': trivial}


def test_wilson_interval_matches_known_values():
    """0/10, 5/10 and 10/10 give the textbook Wilson 95% intervals; bad counts raise."""
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_mean_interval_is_the_clipped_normal_approximation():
    """Rates 0.5 (n=10) and 1.0 (n=10): 0.75 +- 1.96 sqrt(0.025 / 4); all-success clips at 1."""
    half = 1.96 * np.sqrt(0.5 * 0.5 / 10 / 4)
    expected = (0.75 - half, 0.75 + half)
    assert mean_interval([(5, 10), (10, 10)]) == pytest.approx(expected)
    assert mean_interval([(10, 10), (4, 4)]) == (1.0, 1.0)


def test_hold_and_open_gripper_baselines_act_as_specified():
    """Hold keeps the start state's gripper until the next reset; open-gripper always opens."""
    obs = np.zeros(layout.OBS_DIM)
    obs[layout.GRIPPER_ACTION] = layout.GRIPPER_CLOSE
    opened = obs.copy()
    opened[layout.GRIPPER_ACTION] = layout.GRIPPER_OPEN
    hold, open_gripper = HoldPolicy(), OpenGripperPolicy()
    hold.reseed(3)
    assert hold.reset(obs, obs, 'open_drawer') is None
    np.testing.assert_array_equal(hold.act(obs, obs), [0, 0, 0, 0, 0, 0, -1])
    assert hold.act(opened, obs)[6] == -1.0
    hold.reset(opened, obs)
    assert hold.act(obs, obs)[6] == 1.0
    hold.reset()
    assert hold.act(opened, obs)[6] == 1.0
    np.testing.assert_array_equal(open_gripper.act(obs, obs), [0, 0, 0, 0, 0, 0, 1])
    assert hold.holding == open_gripper.holding == '' and hold.replans == 0


def test_the_scripted_policy_runs_through_the_interface_and_solves_its_task():
    """The expert row: reset builds the skill, act drives it, the oracle sees the task."""
    with PlayTableSim(seed=0) as sim:
        obs = sim.reset_random(0)
        task = next(name for name in ('turn_on_led', 'turn_off_led')
                    if infeasibility(name, obs) is None)
        policy = make_policy(PolicySpec('scripted', baselines.SCRIPTED), 0)
        success, steps, reason = run_episode(sim, policy, TaskOracle(), task, obs, 240)
    assert success and 0 < steps < 240 and reason == '', reason
    assert policy.reset(obs, obs, '') is not None
    np.testing.assert_array_equal(policy.act(obs, obs)[:6], np.zeros(6))
    assert policy.holding == HOLD_NO_SKILL


def test_an_episode_a_baseline_solves_is_flagged_trivial_in_every_row():
    """Hold solves imagined episode 1, open-gripper validation episode 0: both are trivial."""
    hold = [_result('open_drawer', False, index=0), _result('open_drawer', True, index=1),
            _result('open_drawer', False, source='validation', index=0)]
    open_gripper = [_result('open_drawer', False, index=0),
                    _result('open_drawer', False, index=1),
                    _result('open_drawer', True, source='validation', index=0)]
    flags = trivial_flags(hold, open_gripper)
    assert flags == {('imagined', 0): False, ('imagined', 1): True, ('validation', 0): True}
    model = [_result('open_drawer', True, index=index) for index in (0, 1)]
    assert [r['trivial'] for r in mark_trivial(model, flags)] == [False, True]


def test_headline_figures_leave_trivial_episodes_out():
    """Mean over tasks and pooled count non-trivial episodes; the all-episode figures do not."""
    results = [_result('open_drawer', True, trivial=True), _result('open_drawer', False),
               _result('close_drawer', True), _result('close_drawer', True),
               _result('turn_on_led', True, trivial=True)]
    summary = summarize_single(results, ['open_drawer', 'close_drawer',
                                         'turn_on_led', 'turn_off_led'])
    assert summary['mean_success'] == pytest.approx(0.5)  # (0/1 + 2/2) / 2 tasks
    assert summary['pooled_success'] == pytest.approx(2 / 3)
    assert summary['tasks_in_mean'] == 2 and summary['trivial_episodes'] == 2
    assert summary['per_task']['open_drawer']['trivial'] == 1
    assert summary['tasks_only_trivial'] == ['turn_on_led']
    assert summary['tasks_without_episodes'] == ['turn_off_led']
    everything = summary['all_episodes']
    assert everything['mean_success'] == pytest.approx((0.5 + 1 + 1) / 3)
    assert everything['pooled_success'] == pytest.approx(4 / 5)
    assert summary['pooled_interval'] == pytest.approx(list(wilson_interval(2, 3)))


def test_success_is_binned_by_goal_distance():
    """Bin edges 31/32, 127/128; per-bin success on non-trivial episodes."""
    assert [distance_bin(d) for d in (0, 31, 32, 95, 96, 127, 128, 900)] == [
        '0-31', '0-31', '32-63', '64-95', '96-127', '96-127', '128+', '128+']
    results = [_result('open_drawer', True, distance=20),
               _result('open_drawer', False, distance=40),
               _result('open_drawer', True, distance=45),
               _result('open_drawer', True, distance=200, trivial=True)]
    summary = summarize_single(results, ['open_drawer'])
    bins = summary['per_distance']
    assert list(bins) == bin_labels()
    assert (bins['0-31']['episodes'], bins['0-31']['success_rate']) == (1, 1.0)
    assert (bins['32-63']['episodes'], bins['32-63']['success_rate']) == (2, 0.5)
    assert bins['128+']['episodes'] == 0 and bins['128+']['success_rate'] is None
    assert summary['per_distance_all']['128+']['episodes'] == 1
    table = single_markdown(['m (det)'], [summary])
    assert '| 32-63 | 2 | 50% [' in table and '| 128+ | 0 | n/a |' in table


def test_chains_have_five_distinct_categories_and_depend_only_on_their_index():
    """Three chains of five tasks from five categories; chain 2 alone is the same chain 2."""
    chains = make_chains(3, seed=0, progress=False)
    assert len(chains) == 3
    for chain in chains:
        assert len(chain.tasks) == CHAIN_LENGTH
        assert len({TASK_CATEGORIES[task] for task in chain.tasks}) == CHAIN_LENGTH
    again = make_chain(2, 0)
    assert again.tasks == chains[2].tasks
    np.testing.assert_array_equal(again.start, chains[2].start)


def test_chain_summary_counts_goal_and_policy_failures_apart():
    """One chain lost its goal, one the policy failed, one completed."""
    summary = summarize_chain([
        {'completed': 1, 'goal_failure': True}, {'completed': 3, 'goal_failure': False},
        {'completed': 5, 'goal_failure': False}])
    assert (summary['goal_failures'], summary['policy_failures']) == (1, 1)
    assert 'goal failures' in chain_markdown(['m (det)'], [summary])


def test_imagined_goals_report_the_skill_steps_and_change_with_the_seed():
    """imagine_goal_with_steps returns imagine_goal's state; imagined starts follow --seed."""
    with PlayTableSim(seed=0) as sim:
        start = sim.reset_random(4)
    with GoalJudge(1) as first, GoalJudge(1) as second:
        goal, steps = first.imagine_goal_with_steps('turn_on_led' if start[layout.LED] < 0.5
                                                    else 'turn_off_led', start)
        plain = second.imagine_goal('turn_on_led' if start[layout.LED] < 0.5
                                    else 'turn_off_led', start)
    np.testing.assert_array_equal(goal, plain)
    assert steps > 0
    seed_zero = single_episodes('imagined', 1, 0, ['open_drawer', 'close_drawer'],
                                progress=False)
    seed_one = single_episodes('imagined', 1, 1, ['open_drawer', 'close_drawer'],
                               progress=False)
    assert [episode.task for episode in seed_zero] == ['open_drawer', 'close_drawer']
    assert all(episode.source == 'imagined' and episode.distance > 0 for episode in seed_zero)
    assert not np.array_equal(seed_zero[0].start, seed_one[0].start)


def test_validation_episodes_are_a_seeded_draw_from_all_matching_windows(tiny_play):
    """Each seed repeats; seeds differ; every draw is among the matching windows, no top-up."""
    with GoalJudge(0) as judge:
        held_out = validation_episodes(Path(tiny_play) / 'training', judge)
    # The tiny split holds about one matching window per task: pool them under one task, so
    # that the draw has several to choose from.
    windows = [window for task in sorted(held_out) for window in held_out[task]]
    assert len(windows) >= 4, 'the tiny split should hold several matching windows'
    assert all(window.distance > 0 and window.source == 'validation' for window in windows)
    pooled = {'open_drawer': windows}
    identities = {id(window): number for number, window in enumerate(windows)}

    def draw(seed):
        return [identities[id(episode)]
                for episode in choose_validation(pooled, ['open_drawer'], 2, seed)]

    draws = [draw(seed) for seed in range(6)]
    assert draw(0) == draws[0] and len(draws[0]) == 2 == len(set(draws[0]))
    assert len({tuple(chosen) for chosen in draws}) > 1
    assert any(max(chosen) >= 2 for chosen in draws), 'not just the first windows'
    everything = choose_validation(pooled, ['open_drawer', 'close_drawer'], 1000, 0)
    assert sorted(identities[id(episode)] for episode in everything) == list(
        range(len(windows)))


def test_single_run_with_modes_and_baselines(tmp_path, capsys):
    """Both modes and both cheap baselines are rows; every episode has its flag and source."""
    model_dir = write_model_dir(tmp_path)
    out = tmp_path / 'out'
    assert evaluate.main(['--model', str(model_dir), '--name', 'tiny', '--tasks', 'open_drawer',
                          '--episodes', '1', '--modes', 'sampled,deterministic', '--out',
                          str(out), '--no-progress']) == 0
    names = ['tiny (sampled)', 'tiny (det)', 'hold', 'open-gripper']
    summaries = json.loads((out / 'single.json').read_text())
    assert [summary['model'] for summary in summaries] == names
    table = (out / 'single.md').read_text()
    assert '| task | episodes | trivial | ' + ' | '.join(names) + ' |' in table
    assert '| **mean over tasks** (non-trivial) |' in table
    assert '| pooled (all episodes) |' in table
    assert (out / 'single_distance.png').stat().st_size > 1000
    for directory in ('tiny-sampled', 'tiny-det', 'hold', 'open-gripper'):
        report = json.loads((out / directory / 'results.json').read_text())
        assert all('trivial' in episode and episode['source'] == 'imagined'
                   and episode['distance'] > 0 for episode in report['episodes'])
    printed = capsys.readouterr().out
    assert 'tiny (det): mean ' in printed and 'pooled ' in printed


def test_the_untrained_baseline_mirrors_the_model_architecture(tmp_path):
    """Method, D, H, K, bins and replan_every from the metadata; the rest from cpu_default."""
    model_dir = write_model_dir(tmp_path)
    sources = baselines.write_untrained_model(OnnxPolicy(str(model_dir)).metadata,
                                              tmp_path / 'untrained', seed=0)
    assert sources['policy_hidden'] == 'metadata' and sources['proposal_width'] == (
        'cpu_default.yaml')
    policy = OnnxPolicy(str(tmp_path / 'untrained'), deterministic=True)
    assert (policy.method, policy.d_latent, policy.hidden_size, policy.mixtures) == (
        'lmp', D_LATENT, HIDDEN_SIZE, MIXTURES)
    with PlayTableSim(seed=0) as sim:
        obs = sim.reset_random(0)
    action = policy.act(obs, obs)
    assert np.all(np.abs(action[:6]) <= 1.0) and action[6] in (-1.0, 1.0)


@pytest.mark.parametrize('extra, message', [
    (['--goal-source', 'validation'], '--data'),
    (['--goal-source', 'both'], '--data'),
    (['--modes', 'sampled', '--deterministic'], '--deterministic'),
    (['--baselines', 'hold,random'], 'random'),
    (['--protocol', 'chain', '--episodes', '1001'], '1000'),
])
def test_evaluate_rejects_bad_options(tmp_path, capsys, extra, message):
    """Validation goals without --data, clashing modes, unknown baselines: exit 2, the reason."""
    model_dir = write_model_dir(tmp_path)
    assert evaluate.main(['--model', str(model_dir), '--out', str(tmp_path / 'out')]
                         + extra) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize('names', [
    ['../x'],            # climbs out of --out
    ['..'],              # the parent itself
    ['a/b'],             # a path, not a name
    ['/tmp/abs'],        # an absolute path
    [''],                # empty
    ['.'],               # the directory itself
])
def test_evaluate_refuses_names_that_are_not_plain_file_names(tmp_path, capsys, names):
    """A --name with a path in it is refused in one line, exit 2, before anything is written."""
    model_dir = write_model_dir(tmp_path)
    before = sorted(path.name for path in tmp_path.iterdir())
    argv = ['--model', str(model_dir), '--out', str(tmp_path / 'out'), '--no-progress']
    for name in names:
        argv += ['--name', name]
    assert evaluate.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and 'is not a plain file name' in error, error
    assert sorted(path.name for path in tmp_path.iterdir()) == before


def test_evaluate_refuses_names_that_share_a_row_directory(tmp_path, capsys):
    """'a b' and 'a-b' would write the same row directory: refused, exit 2."""
    model_dir = write_model_dir(tmp_path)
    assert evaluate.main(['--model', str(model_dir), '--model', str(model_dir), '--name', 'a b',
                          '--name', 'a-b', '--out', str(tmp_path / 'out')]) == 2
    assert "row directories ['a-b', 'a-b']" in capsys.readouterr().err


def test_plan_mode_reaches_the_policy_and_the_report(tiny_play, tmp_path):
    """--plan-mode runs the model's subgoal planner and is recorded in the summary."""
    model_dir = write_planned_model_dir(
        tmp_path, train_tiny_subgoal(tiny_play, tmp_path / 'subgoal_run'), tiny_play)
    out = tmp_path / 'out'
    assert evaluate.main(['--model', str(model_dir), '--name', 'tiny', '--tasks', 'open_drawer',
                          '--episodes', '1', '--plan-mode', 'collocation', '--out', str(out),
                          '--no-progress']) == 0
    summaries = {summary['model']: summary
                 for summary in json.loads((out / 'single.json').read_text())}
    assert summaries['tiny (det)']['plan_mode'] == 'collocation'
    assert summaries['tiny (det)']['episodes'] == 1
    (tmp_path / 'old').mkdir()
    assert evaluate.main(['--model', str(write_model_dir(tmp_path / 'old')), '--tasks',
                          'open_drawer', '--plan-mode', 'sample', '--out', str(out),
                          '--no-progress']) == 2
