"""Timing that is fair on a shared machine: the median of several runs."""
import time
from collections.abc import Callable

import numpy as np


def median_time(fn: Callable[..., object], *args: object, repeat: int = 5, **kwargs: object) -> float:
    """Median wall-clock seconds of fn(*args, **kwargs) over `repeat` runs (after one warm-up)."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))
