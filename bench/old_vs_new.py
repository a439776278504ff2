"""What the old-against-new benchmarks share: the best process CPU of a few runs, and frames
compared exactly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_cpu(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """``fn()``'s result and its lowest process CPU seconds over ``repeat`` runs."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = fn()
        best = min(best, time.process_time() - started)
    return result, best


def same_frames(a: Any, b: Any) -> bool:
    """Whether two DataFrames are equal (values, dtypes, index) as pandas' testing sees it."""
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(a, b)
    except AssertionError:
        return False
    return True
