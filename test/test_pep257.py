"""Run ament_pep257 over every Python file of the project."""

from ament_pep257.main import main
from lint_paths import LINTED_PATHS
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    """Check docstrings against the ament pep257 convention."""
    rc = main(argv=LINTED_PATHS)
    assert rc == 0, 'Found docstring style errors'
