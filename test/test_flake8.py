"""Run ament_flake8 over every Python file of the project."""

from ament_flake8.main import main_with_errors
from lint_paths import LINTED_PATHS
import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    """Check the ament flake8 rules: 99 columns, single quotes, Google import order."""
    rc, errors = main_with_errors(argv=LINTED_PATHS)
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
