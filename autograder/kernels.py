"""Starting a Jupyter kernel again when it never started.

With many kernels starting at once, one may die before it replies to kernel_info: jupyter_client picked a
free port and another process bound it before the kernel did. Nothing of the notebook ran, so running it
again in a new kernel changes nothing but the outcome of that race.
"""
from collections.abc import Callable
from typing import TypeVar

KERNEL_NEVER_STARTED = "Kernel died before replying to kernel_info"   # jupyter_client's words
T = TypeVar("T")


def with_kernel_restarts(run: Callable[[], T], tries: int = 3) -> T:
    """run() (which starts a fresh kernel each time), again while its kernel never started, up to `tries` times."""
    for attempt in range(tries):
        try:
            return run()
        except RuntimeError as error:
            if KERNEL_NEVER_STARTED not in str(error) or attempt == tries - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
