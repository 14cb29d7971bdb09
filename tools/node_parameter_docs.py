"""
Write the README's node parameter tables and config/<node>.yaml from the parameters dataclasses.

    python tools/node_parameter_docs.py            # rewrite the tables and the YAML files
    python tools/node_parameter_docs.py --check    # exit 1 when one of them is out of date

A node parameter is defined once, as a field of its node's parameters dataclass
(play_lmp_ros.parameters.parameter: default, description, range, live).  From those fields this
script writes, for every node, the table under the node's bold name in README.md's Nodes
section (parameter, type, default, meaning; a live parameter's meaning starts with *live*:),
and, for the nodes that read a parameter file, config/<node>.yaml: every parameter at its
default, each after a comment made from its description (marked *live*: the same way).  Only
the tables are replaced; the rest of README.md is left as it is.  Run it from the repository
root, with the source tree ahead of any installed copy on PYTHONPATH.
"""

import argparse
from dataclasses import fields
from pathlib import Path
import re
import sys
import textwrap
from typing import Any, List, NamedTuple, Optional, Tuple

from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.foxglove_bridge_node import FoxgloveBridgeParams
from play_lmp_ros.goal_server_node import GoalServerParams
from play_lmp_ros.parameters import INT64_MAX, parameter_specs, ParameterRange, ParameterSpec
from play_lmp_ros.policy_node import PolicyNodeParams
from play_lmp_ros.sim_node import SimNodeParams
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
CONFIG_DIR = REPO / 'config'
TABLE_HEADER = ('| parameter | type | default | meaning |', '|---|---|---|---|')
LIVE_MARKER = '*live*: '
COLUMNS = 99


class NodeParameters(NamedTuple):
    """
    One node's parameters and where they are documented.

    :param node: the node's name, as in the README's bold heading and config/<node>.yaml.
    :param params: its parameters dataclass.
    :param summary: what the node is, for the YAML file's first line; None: the node reads no
        parameter file, so it has only its README table.
    """

    node: str
    params: type
    summary: Optional[str]


NODES = (
    NodeParameters('sim_node', SimNodeParams, 'the play table simulator'),
    NodeParameters('goal_server', GoalServerParams, 'the ReachGoal action server'),
    NodeParameters('policy_node', PolicyNodeParams, 'the learned or scripted policy'),
    NodeParameters('foxglove_bridge', FoxgloveBridgeParams, None),
)


def type_name(default: Any) -> str:
    """
    Name a parameter's ROS type, as `ros2 param describe` does.

    :param default: the parameter's default value.
    :return: 'bool', 'int', 'double', 'string' or '<type> array' for a tuple.
    :raises ValueError: for a value of another type, or an empty or mixed tuple.
    """
    if isinstance(default, tuple):
        names = {type_name(item) for item in default}
        if len(names) != 1:
            raise ValueError(f'cannot name the type of array {default!r}')
        return f'{names.pop()} array'
    for kind, name in ((bool, 'bool'), (int, 'int'), (float, 'double'), (str, 'string')):
        if isinstance(default, kind):
            return name
    raise ValueError(f'no ROS parameter type for {default!r}')


def default_text(default: Any) -> str:
    """
    Write a default value for the README table.

    :param default: the parameter's default value.
    :return: e.g. `realtime`, `''`, 30.0, true, `[CPUExecutionProvider]`.
    """
    if isinstance(default, bool):
        return 'true' if default else 'false'
    if isinstance(default, str):
        return f'`{default}`' if default else "`''`"
    if isinstance(default, tuple):
        return f'`[{", ".join(str(item) for item in default)}]`'
    return str(default)


def number(value: float) -> str:
    """
    Write a range's end.

    :param value: an int, or a float.
    :return: e.g. '1000000', '0.1', '1000' (a float without its needless '.0').
    """
    return str(value) if isinstance(value, int) else f'{value:g}'


def range_text(value_range: ParameterRange) -> str:
    """
    Describe a parameter's range.

    :param value_range: its FloatingPointRange or IntegerRange.
    :return: e.g. 'range 0.1 to 1000', or 'at least 0' for an integer range to INT64_MAX.
    """
    low, high = (number(value) for value in (value_range.from_value, value_range.to_value))
    if value_range.to_value == INT64_MAX and isinstance(value_range.to_value, int):
        return f'at least {low}'
    return f'range {low} to {high}'


def meaning(spec: ParameterSpec) -> str:
    """
    Write what a parameter does: its description, then its range where it has one.

    :param spec: the parameter's ParameterSpec.
    :return: the text, without the live marker.
    """
    if spec.value_range is None:
        return spec.description
    return f'{spec.description}; {range_text(spec.value_range)}'


def parameter_table(params: type) -> str:
    """
    Write a node's README parameter table.

    :param params: the node's parameters dataclass.
    :return: the header, the rule and one row per parameter, each line ending with a newline.
    """
    specs = parameter_specs(params)
    lines = list(TABLE_HEADER)
    for params_field in fields(params):
        spec = specs[params_field.name]
        text = (LIVE_MARKER if spec.live else '') + meaning(spec)
        lines.append(f'| `{params_field.name}` | {type_name(params_field.default)} | '
                     f'{default_text(params_field.default)} | {text} |')
    return '\n'.join(lines) + '\n'


def yaml_value(value: Any) -> str:
    """
    Write a value as YAML's flow style does.

    :param value: a parameter value (a tuple becomes a list).
    :return: e.g. realtime, '', 30.0, true, [CPUExecutionProvider].
    """
    text = yaml.safe_dump(list(value) if isinstance(value, tuple) else value,
                          default_flow_style=True, width=float('inf'))
    return text[:-len('...\n')].rstrip('\n') if text.endswith('...\n') else text.rstrip('\n')


def comment(text: str, indent: str) -> List[str]:
    """
    Write a YAML comment, wrapped to the column limit.

    :param text: the comment.
    :param indent: put before each '# '.
    :return: its lines.
    """
    return textwrap.wrap(text, width=COLUMNS, initial_indent=f'{indent}# ',
                         subsequent_indent=f'{indent}# ', break_long_words=False,
                         break_on_hyphens=False)


def sentence(text: str) -> str:
    """
    Start a text with a capital letter and end it with a period.

    :param text: e.g. 'rate of `/diagnostics` (Hz)'.
    :return: e.g. 'Rate of `/diagnostics` (Hz).'
    """
    return text[:1].upper() + text[1:] + ('' if text.endswith('.') else '.')


def config_text(node: NodeParameters) -> str:
    """
    Write a node's parameter file.

    :param node: the node; its summary must not be None.
    :return: the text of config/<node>.yaml, keyed /**/<node> so that it applies in any
        namespace.
    """
    specs = parameter_specs(node.params)
    lines = comment(
        f"Parameters of play_lmp_ros' {node.node} ({node.summary}), with their defaults; the "
        'ones marked *live* can change at run time (ros2 param set).  Written by '
        f'tools/node_parameter_docs.py from {node.params.__module__}.{node.params.__name__}: '
        'edit the dataclass, then run the script.', '')
    lines += [f'/**/{node.node}:', '  ros__parameters:']
    for params_field in fields(node.params):
        spec = specs[params_field.name]
        text = meaning(spec)
        lines += comment(f'{LIVE_MARKER}{text}.' if spec.live else sentence(text), '    ')
        lines.append(f'    {params_field.name}: {yaml_value(params_field.default)}')
    return '\n'.join(lines) + '\n'


def config_path(node: NodeParameters) -> Path:
    """
    Return where a node's parameter file is.

    :param node: the node.
    :return: config/<node>.yaml.
    """
    return CONFIG_DIR / f'{node.node}.yaml'


def replace_table(readme: str, node: str, table: str) -> str:
    """
    Put a node's parameter table in place of the one under its heading in the README.

    :param readme: the README's text.
    :param node: the node, whose heading is a line starting with **`<node>`**.
    :param table: its new table (parameter_table).
    :return: the README's text with the table replaced.
    :raises ValueError: when the heading, or a parameter table after it, is missing.
    """
    heading = re.search(rf'^\*\*`{re.escape(node)}`\*\*.*\n', readme, flags=re.MULTILINE)
    if heading is None:
        raise ValueError(f'README.md has no heading **`{node}`** for its parameter table')
    start = readme.find(TABLE_HEADER[0] + '\n', heading.end())
    next_heading = readme.find('\n**`', heading.end())
    if start < 0 or 0 <= next_heading < start:
        raise ValueError(f'README.md has no parameter table under **`{node}`**')
    end = start
    while readme.startswith('|', end):
        end = readme.index('\n', end) + 1
    return readme[:start] + table + readme[end:]


def readme_text(readme: str) -> str:
    """
    Replace every node's parameter table in the README.

    :param readme: the README's text.
    :return: the text with each of NODES' tables as parameter_table writes it.
    """
    for node in NODES:
        readme = replace_table(readme, node.node, parameter_table(node.params))
    return readme


def expected_files() -> List[Tuple[Path, str]]:
    """
    Return every file this script writes, with the text it writes.

    :return: [(path, text)]: README.md, then each config/<node>.yaml.
    """
    files = [(README, readme_text(README.read_text()))]
    files += [(config_path(node), config_text(node)) for node in NODES
              if node.summary is not None]
    return files


def main(argv: Optional[List[str]] = None) -> int:
    """
    Write or check the README's parameter tables and the parameter files.

    :param argv: command line arguments (sys.argv[1:] when None).
    :return: 0, or 1 when --check finds a file out of date.
    """
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument('--check', action='store_true',
                        help='only compare the files with what this script writes')
    args = parser.parse_args(argv)
    stale = [(path, text) for path, text in expected_files()
             if not path.exists() or path.read_text() != text]
    if args.check:
        for path, _ in stale:
            print(f'{path.relative_to(REPO)} is out of date: run python '
                  'tools/node_parameter_docs.py', file=sys.stderr)
        return 1 if stale else 0
    for path, text in stale:
        path.write_text(text)
        print(path.relative_to(REPO))
    return 0


if __name__ == '__main__':
    sys.exit(main())
