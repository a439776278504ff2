"""Plausible ranges of the canonical numeric input fields (SPEC §3), in one place.

A number outside its field's range is not data but a broken feed or a typo (``1e308``
deliveries, 40 login days in a month, a conversion rate of 3): the row is a bad row, quarantined
(``sfsync run``) or skipped with a warning (``sfsync score``) with a reason that names the field,
the value and the range. Non-finite numbers (``inf``, ``-inf``, ``NaN`` spelled out) are bad in
every numeric column, listed here or not.

The ranges are deliberately wide: they reject the absurd, not the unusual. Ratios accept
:data:`RATIO_TOLERANCE` above 1 for rounding in the source (``1.004``); a column mapping's own
``min``/``max`` may be stricter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RATIO_TOLERANCE = 0.01


@dataclass(frozen=True)
class PlausibleRange:
    """The values a canonical field can plausibly hold: ``low``–``high`` (+ ``tolerance``)."""

    low: float
    high: float
    tolerance: float = 0.0

    def text(self) -> str:
        """The range as people read it: ``0–100,000``."""
        return f"{_number(self.low)}–{_number(self.high)}"

    def outside(self, values: pd.Series) -> pd.Series:
        """Mask of the finite values outside the range (missing and non-finite: False)."""
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        finite = np.isfinite(numbers.to_numpy())
        with np.errstate(invalid="ignore"):
            out = (numbers < self.low - self.tolerance) | (numbers > self.high + self.tolerance)
        return pd.Series(finite & out.to_numpy(dtype=bool), index=values.index)


PLAUSIBLE: dict[str, PlausibleRange] = {
    # usage, per tenant and month
    "deliveries": PlausibleRange(0, 100_000),  # webinars delivered in one month
    "login_days": PlausibleRange(0, 31),  # days with a login in one month
    "support_tickets": PlausibleRange(0, 100_000),
    # tech-touch engagement logs (seed 000), per tenant and month
    "video_views": PlausibleRange(0, 1_000_000_000),
    "document_views": PlausibleRange(0, 1_000_000_000),
    "email_delivered": PlausibleRange(0, 1_000_000_000),
    "email_opens": PlausibleRange(0, 1_000_000_000),
    "email_clicks": PlausibleRange(0, 1_000_000_000),
    # per-content engagement log (sfsync.sources.engagement): views of one content in a month,
    # and the share of it the viewers got through (a video watched to the end: 1)
    "views": PlausibleRange(0, 1_000_000_000),
    "completion_ratio": PlausibleRange(0, 1, RATIO_TOLERANCE),
    "pipeline_conversion_rate": PlausibleRange(0, 1, RATIO_TOLERANCE),
    # a customer over their plan limit is real (overage, a grace period): 1.8 is usage at 180 %;
    # quarantining it would drop the tenant's month and make a heavy user look idle
    "plan_usage_ratio": PlausibleRange(0, 10),
    # accounts
    "arr": PlausibleRange(0, 1e13),  # annual recurring revenue (yen): up to 10 trillion
}


def plausible_range(field: str) -> PlausibleRange | None:
    """The plausible range of canonical ``field``, or None when it has none."""
    return PLAUSIBLE.get(field)


def non_finite(raw: pd.Series, numbers: pd.Series) -> pd.Series:
    """Mask of the cells of ``raw`` that are or spell a non-finite number (``inf``,
    ``-Infinity``, ``1e999``, ``NaN`` spelled out); ``numbers`` is ``raw`` parsed as float64.

    A float NaN cell is a missing value (that is how pandas and SQL drivers deliver NULL), not a
    non-finite number; the text ``"NaN"`` is one. Vectorised: only cells that failed to parse
    are looked at as text.
    """
    parsed = pd.to_numeric(numbers, errors="coerce").astype("float64")
    mask = pd.Series(np.isinf(parsed.to_numpy()), index=raw.index)
    candidates = parsed.isna() & raw.notna()
    if candidates.any():
        text = raw[candidates].astype(str).str.strip().str.lower().str.lstrip("+-")
        spelled = text.isin(("nan", "inf", "infinity"))
        mask.loc[spelled.index[spelled.to_numpy()]] = True
    return mask


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"
