"""Input guards (SPEC §12): is tonight's input a normal night's input? Pure functions.

A broken feed — an upstream ETL that failed, a query whose month filter broke, a column that
came back empty — looks like customers who stopped using the product, and would turn into a
flood of false churn alerts. Before anything is written, each source's figures are compared
with the month before (inside the same data) and with the last successful run:

- ``rows_collapsed``: rows read fell below ``min_row_ratio`` of the last successful run's;
- ``scoring_month_missing``: no linked tenant has a row for the scoring month at all;
- ``scoring_month_coverage``: the linked tenants with a scoring-month row fell below
  ``min_coverage_ratio`` of those with a previous-month row, or of the last successful run's;
- ``measure_empty``: a measure is filled in fewer than ``min_measure_ratio`` of the
  scoring-month rows compared with the previous month (all empty is the extreme case), or
  compared with the scoring-month rows of the last successful run — a measure the query
  stopped returning (a renamed column, a mapping's misspelt ``source``) is empty in every
  month of tonight's data, so only the last run shows it.

:func:`input_figures` measures a source; :func:`check_inputs` judges the figures. Both are pure,
so ``sfsync score`` (offline, no history) uses the same checks as a scheduled run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

# canonical usage measures whose emptiness would silently zero a score (SPEC §3)
USAGE_MEASURES = (
    "deliveries",
    "login_days",
    "last_login_date",
    "pipeline_conversion_rate",
    "plan_usage_ratio",
    "support_tickets",
    "video_views",
    "document_views",
    "email_delivered",
    "email_opens",
    "email_clicks",
)


@dataclass(frozen=True)
class GuardFinding:
    """One failed check: which guard, for which source, and the sentence with its figures."""

    check: str
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a"


def input_figures(
    role: str,
    rows_read: int,
    frame: pd.DataFrame,
    *,
    linked_tenants: Iterable[str] | None = None,
    scoring_month: str | None = None,
    previous_month: str | None = None,
) -> dict[str, Any]:
    """The figures of one source that the checks and the next run's baseline need (JSON-able).

    ``linked_tenants`` (the accounts' tenant ids) and the months are given for a usage source;
    then the figures also hold how many linked tenants have a row in the scoring and previous
    month, and how often each measure is filled in the rows of each month.
    """
    figures: dict[str, Any] = {"role": role, "rows": int(rows_read)}
    if linked_tenants is None or scoring_month is None or "month" not in frame.columns:
        return figures
    linked = set(pd.Series(list(linked_tenants), dtype="object").dropna().astype(str))
    months = frame["month"].astype("string")
    tenants = frame["tenant_id"].astype("string")
    in_scoring = (months == scoring_month).fillna(False).to_numpy(dtype=bool)
    in_previous = (months == previous_month).fillna(False).to_numpy(dtype=bool)
    figures.update(
        {
            "scoring_month": scoring_month,
            "previous_month": previous_month,
            "linked_tenants": len(linked),
            "tenants_scoring": len(set(tenants[in_scoring].dropna()) & linked),
            "tenants_previous": len(set(tenants[in_previous].dropna()) & linked),
            "rows_scoring": int(in_scoring.sum()),
            "rows_previous": int(in_previous.sum()),
        }
    )
    filled: dict[str, list[float | None]] = {}
    for measure in USAGE_MEASURES:
        if measure not in frame.columns:
            continue
        present = frame[measure].notna().to_numpy(dtype=bool)
        filled[measure] = [
            float(present[in_scoring].mean()) if in_scoring.any() else None,
            float(present[in_previous].mean()) if in_previous.any() else None,
        ]
    figures["filled"] = filled
    return figures


def check_inputs(
    figures: dict[str, Any],
    last: dict[str, Any] | None,
    *,
    min_row_ratio: float,
    min_coverage_ratio: float,
    min_measure_ratio: float,
    last_label: str = "the last successful run",
) -> list[GuardFinding]:
    """Every failed input check of one source (empty: the input looks like a normal night's).

    ``last`` holds the same source's figures from the last successful run (None on a first run:
    the source is then judged on its own months alone).
    """
    role = figures["role"]
    findings: list[GuardFinding] = []
    if last and last.get("rows") and figures["rows"] < min_row_ratio * last["rows"]:
        findings.append(
            GuardFinding(
                "rows_collapsed",
                role,
                f"{figures['rows']:,} rows read, against {last['rows']:,} in {last_label} "
                f"({_pct(figures['rows'], last['rows'])}; at least "
                f"{min_row_ratio:.0%} required, setting min_row_ratio)",
            )
        )
    if "linked_tenants" not in figures or not figures["linked_tenants"]:
        return findings
    month, previous = figures["scoring_month"], figures["previous_month"]
    linked, now, before = (
        figures["linked_tenants"],
        figures["tenants_scoring"],
        figures["tenants_previous"],
    )
    coverage = f"{now:,} of {linked:,} linked tenants ({_pct(now, linked)}) have a row for {month}"
    if now == 0:
        findings.append(
            GuardFinding(
                "scoring_month_missing",
                role,
                f"no linked tenant has a row for the scoring month {month} "
                f"({before:,} of {linked:,} had one for {previous}); the feed looks incomplete",
            )
        )
        return findings
    if before and now < min_coverage_ratio * before:
        findings.append(
            GuardFinding(
                "scoring_month_coverage",
                role,
                f"{coverage}, against {before:,} ({_pct(before, linked)}) for {previous} "
                f"(at least {min_coverage_ratio:.0%} of that required, setting "
                "min_coverage_ratio)",
            )
        )
    last_now = (last or {}).get("tenants_scoring")
    if last_now and now < min_coverage_ratio * last_now:
        findings.append(
            GuardFinding(
                "scoring_month_coverage",
                role,
                f"{coverage}, against {last_now:,} for {last.get('scoring_month')} in "
                f"{last_label} (at least {min_coverage_ratio:.0%} of that required, setting "
                "min_coverage_ratio)",
            )
        )
    filled = figures.get("filled", {})
    reported: set[str] = set()
    for measure, (filled_now, filled_before) in filled.items():
        if filled_now is None or not filled_before:
            continue
        if filled_now < min_measure_ratio * filled_before:
            reported.add(measure)
            state = "empty in every row" if filled_now == 0 else f"filled in {filled_now:.0%}"
            findings.append(
                GuardFinding(
                    "measure_empty",
                    role,
                    f"{measure} is {state} of {month}, against {filled_before:.0%} of the rows "
                    f"of {previous} (at least {min_measure_ratio:.0%} of that required, setting "
                    "min_measure_ratio)",
                )
            )
    for measure, last_fills in ((last or {}).get("filled") or {}).items():
        was = last_fills[0] if last_fills else None  # the last run's scoring month
        now_fill = (filled.get(measure) or [0.0])[0]
        if not was or now_fill is None or measure in reported:
            continue
        if now_fill < min_measure_ratio * was:
            state = (
                "missing from the source"
                if measure not in filled
                else "empty in every row"
                if now_fill == 0
                else f"filled in {now_fill:.0%}"
            )
            findings.append(
                GuardFinding(
                    "measure_empty",
                    role,
                    f"{measure} is {state} of {month}, against {was:.0%} of the rows of "
                    f"{last.get('scoring_month')} in {last_label} (a renamed or dropped column? "
                    f"at least {min_measure_ratio:.0%} of that required, setting "
                    "min_measure_ratio)",
                )
            )
    return findings
