"""
Keep C-level output off stdout, for commands whose stdout carries a report.

pybullet prints its banner from C to file descriptor 1, past sys.stdout; a command that prints
JSON on stdout runs the simulator inside ``stdout_to_stderr()``.
"""

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send file descriptor 1 to stderr during the block (sys.stdout is flushed first)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
