"""Vectorised helpers shared by the sample-data generators."""

from __future__ import annotations

import numpy as np

from sfsync_sandbox.ids import KEY_PREFIXES


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Add calendar months to ``datetime64[D]`` values, clamping the day (vectorised)."""
    ym = days.astype("datetime64[M]")
    day = (days - ym.astype("datetime64[D]")).astype(np.int64)
    new_ym = ym + np.asarray(months, dtype=np.int64)
    month_len = ((new_ym + 1).astype("datetime64[D]") - new_ym.astype("datetime64[D]")).astype(
        np.int64
    )
    return new_ym.astype("datetime64[D]") + np.minimum(day, month_len - 1)


_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_SUFFIX_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", np.uint8)


def make_ids(sobject: str, count: int, pod: str = "5g") -> np.ndarray:
    """``[make_id(sobject, 1), ..., make_id(sobject, count)]`` as an object array, vectorised."""
    head = np.frombuffer((KEY_PREFIXES.get(sobject, "a0Z") + pod).encode(), np.uint8)
    numbers = np.arange(1, count + 1, dtype=np.int64)
    digits = np.empty((count, 10), dtype=np.int64)
    for pos in range(9, -1, -1):
        numbers, digits[:, pos] = np.divmod(numbers, 62)
    body = _BASE62[digits]
    id15 = np.concatenate([np.broadcast_to(head, (count, 5)), body], axis=1)
    upper = (id15 >= ord("A")) & (id15 <= ord("Z"))
    weights = 1 << np.arange(5)
    bits = (upper.reshape(count, 3, 5) * weights).sum(axis=2)
    full = np.ascontiguousarray(np.concatenate([id15, _SUFFIX_ALPHABET[bits]], axis=1))
    return full.view("S18").ravel().astype(str).astype(object)


def pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    """Draw ``n`` values uniformly from ``options``."""
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]
