"""
Each node parameter is defined once, in its dataclass field; the README and YAML come from it.

tools/node_parameter_docs.py writes README.md's parameter tables and config/<node>.yaml from the
fields (parameters.parameter); these tests fail when either differs from what the script writes.
"""

from dataclasses import dataclass, fields
from pathlib import Path
import sys

from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_ros.parameters import INT64_MAX, live_parameters, parameter, parameter_specs
from play_lmp_ros.policy_node import PolicyNodeParams
from play_lmp_ros.sim_node import SimNodeParams
import pytest
from rcl_interfaces.msg import FloatingPointRange, IntegerRange
from ros_harness import node_config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))
try:
    import node_parameter_docs
finally:
    sys.path.pop(0)

NODES = node_parameter_docs.NODES
WRITTEN = [node for node in NODES if node.summary is not None]


def test_readme_and_parameter_files_are_what_the_script_writes():
    """README.md's tables and config/<node>.yaml match tools/node_parameter_docs.py's output."""
    for path, text in node_parameter_docs.expected_files():
        assert path.read_text() == text, (
            f'{path.relative_to(REPO)} is out of date: run python tools/node_parameter_docs.py')
    assert node_parameter_docs.main(['--check']) == 0


@pytest.mark.parametrize('node', WRITTEN, ids=lambda node: node.node)
def test_parameter_files_hold_every_parameter_at_its_default(node):
    """Each file is keyed /**/<node>: ros__parameters, with every field at its default."""
    defaults = {field.name: list(field.default) if isinstance(field.default, tuple)
                else field.default for field in fields(node.params)}
    assert node_config(node.node) == defaults


@pytest.mark.parametrize('node', NODES, ids=lambda node: node.node)
def test_every_row_comes_from_a_field(node):
    """The table has one row per field, in order, marked *live* exactly for the live ones."""
    table = node_parameter_docs.parameter_table(node.params).splitlines()
    assert tuple(table[:2]) == node_parameter_docs.TABLE_HEADER
    rows = [row.split(' | ') for row in table[2:]]
    assert [row[0] for row in rows] == [f'| `{field.name}`' for field in fields(node.params)]
    live = {name.strip('|` ') for name, _, _, meaning in rows if meaning.startswith('*live*: ')}
    assert live == set(live_parameters(node.params))


def test_live_parameters_and_ranges_are_the_nodes_own():
    """The live set and the ranges are read from the fields: the simulator's, as declared."""
    assert live_parameters(SimNodeParams) == (
        'control_hz', 'marker_every', 'action_timeout_periods', 'diagnostics_hz')
    specs = parameter_specs(SimNodeParams())
    assert specs['control_hz'].value_range == FloatingPointRange(
        from_value=0.1, to_value=1000.0)
    assert specs['seed'].value_range == IntegerRange(from_value=0, to_value=INT64_MAX, step=1)
    assert specs['mode'].value_range is None and not specs['mode'].live


def test_plan_mode_description_names_every_plan_mode():
    """The plan_mode row lists every mode core.subgoals knows."""
    description = parameter_specs(PolicyNodeParams)['plan_mode'].description
    assert all(f'`{mode}`' in description for mode in PLAN_MODES), description


@pytest.mark.parametrize('arguments, message', [
    (('a', 'no | in a table cell'), "no '|'"),           # would split the README row
    (('a', 'a string', 0, 1), 'int or float default'),  # a range on a string
    ((0.5, 'a rate', 0.1), 'float range needs its high end'),
    ((1, 'a count', None, 5), 'needs its low end'),
])
def test_parameter_refuses_what_cannot_be_declared_or_documented(arguments, message):
    """parameter() raises ValueError on a description or range it cannot use."""
    with pytest.raises(ValueError, match=message):
        parameter(*arguments)


def test_a_field_without_a_parameter_spec_is_refused():
    """Every field must come from parameter(), so none goes undescribed."""

    @dataclass(frozen=True)
    class Plain:
        rate_hz: float = 1.0

    with pytest.raises(ValueError, match='rate_hz is no parameter'):
        parameter_specs(Plain)


def test_a_missing_table_is_named():
    """replace_table says which node's table it could not find."""
    with pytest.raises(ValueError, match='sim_node'):
        node_parameter_docs.replace_table('# README\n', 'sim_node', '')
