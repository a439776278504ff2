"""Health_Direction__c from the trend with a dead band (pure)."""

from __future__ import annotations

import pandas as pd

from sfsync.catalogue import DIRECTIONS
from sfsync.scoring.trend import trend_direction


def test_direction_with_a_dead_band():
    trend = pd.Series([12, 5, 4, 0, -5, -6, None], dtype="Int64")
    out = trend_direction(trend, 5)
    assert list(out.fillna("-")) == ["up", "flat", "flat", "flat", "flat", "down", "-"]
    assert set(out.dropna()) <= set(DIRECTIONS)
    no_band = trend_direction(trend, 0).fillna("-")
    assert list(no_band) == ["up", "up", "up", "flat", "down", "down", "-"]
