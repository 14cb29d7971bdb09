"""Every command line of the package documents each option and shows its default in --help."""

import argparse
import ast
from pathlib import Path

from play_lmp_ros.core.cli_help import HelpFormatter
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(path for folder in ('play_lmp_ros', 'training', 'tools', 'benchmarks')
                 for path in (REPO / folder).rglob('*.py'))


def test_the_formatter_shows_defaults_that_say_something():
    """0 and a path are shown; None, a flag and a default the help names already are not."""
    parser = argparse.ArgumentParser(prog='demo', formatter_class=HelpFormatter)
    parser.add_argument('--seed', type=int, default=0, help='scene seed')
    parser.add_argument('--out', default='out/eval', help='output folder')
    parser.add_argument('--model', help='model folder')
    parser.add_argument('--video', action='store_true', help='write a video')
    parser.add_argument('--wait', type=float, default=30.0, help='seconds (default 30)')
    text = ' '.join(parser.format_help().split())
    assert 'scene seed (default: 0)' in text and 'output folder (default: out/eval)' in text
    assert 'model folder (default' not in text and 'write a video (default' not in text
    assert 'seconds (default 30)' in text and 'default: 30.0' not in text


@pytest.mark.parametrize('path', SOURCES, ids=lambda path: str(path.relative_to(REPO)))
def test_every_parser_uses_the_formatter_and_every_option_has_help(path):
    """Each ArgumentParser (and sub-parser) gets HelpFormatter; each add_argument a help."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parsers = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
               and getattr(node.func, 'attr', None) in ('ArgumentParser', 'add_parser')]
    formatted = {node.value.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Attribute)
                 and target.attr == 'formatter_class' and isinstance(node.value, ast.Name)}
    for call in parsers:
        keyword = next((kw.value for kw in call.keywords if kw.arg == 'formatter_class'), None)
        uses = (isinstance(keyword, ast.Name) and keyword.id == 'HelpFormatter'
                or 'HelpFormatter' in formatted)
        assert uses, f'{path.name}:{call.lineno}: the parser does not use HelpFormatter'
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == 'add_argument':
            assert any(kw.arg == 'help' for kw in node.keywords), (
                f'{path.name}:{node.lineno}: an option without help')
