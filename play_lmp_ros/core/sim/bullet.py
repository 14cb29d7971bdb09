"""
pybullet without its console noise: the build-time banner on import, ``argv[0]=`` on connect.

Both come from pybullet's C code, written straight to the process's file descriptors (the banner
to stderr, ``argv[0]=`` to stdout), so they cannot be silenced from Python's sys.stdout; every
node printed them, interleaved with its log.
The package imports pybullet from here and connects through ``connect``.
"""

import contextlib
import ctypes
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def c_output_silenced() -> Iterator[None]:
    """
    Send what C code writes to stdout and stderr to /dev/null while the block runs.

    C's buffers are flushed before file descriptors 1 and 2 are restored, so that nothing written
    inside the block is printed after it.  Python exceptions raised inside still propagate.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    libc = ctypes.CDLL(None)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in saved:
            os.dup2(null, fd)
        yield
    finally:
        libc.fflush(None)
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


with c_output_silenced():
    import pybullet
    import pybullet_data
    from pybullet_utils import bullet_client


def connect(gui: bool = False) -> bullet_client.BulletClient:
    """
    Start a physics client of its own.

    :param gui: open pybullet's window instead of running headless (DIRECT).
    :return: the client.
    """
    with c_output_silenced():
        return bullet_client.BulletClient(pybullet.GUI if gui else pybullet.DIRECT)


__all__ = ['bullet_client', 'c_output_silenced', 'connect', 'pybullet', 'pybullet_data']
