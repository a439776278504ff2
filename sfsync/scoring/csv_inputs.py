"""Read canonical CSV files (SPEC §3) for ``sfsync score`` and write its output CSV.

Dates are ISO ``YYYY-MM-DD``, months ``YYYY-MM``, booleans ``true``/``false`` and an empty cell
is a missing value. A missing required column, an empty file or text that is not UTF-8 fails the
whole file; a bad row (unparseable date, negative count, a number that is not finite such as
``inf`` or ``NaN``, or one outside its field's plausible range from :mod:`sfsync.plausible`,
duplicate key, empty key) is reported with file and line number (header = line 1) and skipped,
and the other rows are used. Validation is vectorised per column.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sfsync.errors import InputDataError
from sfsync.plausible import non_finite, plausible_range


@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class CsvTable:
    """Parsed rows (bad rows removed) and the problems found."""

    frame: pd.DataFrame
    problems: list[RowProblem] = field(default_factory=list)


# column -> kind; kinds: id (required text), text, number, count (>= 0), rate (0..1),
# ratio (>= 0), date, month, bool
ACCOUNTS = {
    "account_id": "id",
    "name": "text",
    "owner_id": "text",
    "arr": "ratio",
    "is_enterprise": "bool",
    "contract_start": "date",
    "renewal_date": "date",
    "industry": "text",
    "tenant_id": "text",
    "competitor_evaluation": "bool",
}
ACCOUNTS_REQUIRED = ["account_id", "tenant_id", "arr", "contract_start", "renewal_date"]
USAGE = {
    "tenant_id": "id",
    "month": "month",
    "deliveries": "count",
    "login_days": "count",
    "last_login_date": "date",
    "pipeline_conversion_rate": "rate",
    "plan_usage_ratio": "ratio",
    "support_tickets": "count",
    "video_views": "count",
    "document_views": "count",
    "email_delivered": "count",
    "email_opens": "count",
    "email_clicks": "count",
    "tutorial_completed": "bool",
    "tutorial_completed_at": "date",
}
USAGE_REQUIRED = ["tenant_id", "month", "deliveries", "login_days"]
ACTIVITIES = {"account_id": "id", "date": "date", "type": "text", "completed": "bool"}
ACTIVITIES_REQUIRED = ["account_id", "date", "type", "completed"]
_INPUT_KINDS = {"number": "number", "boolean": "bool", "category": "text"}


def _read_raw(path: Path) -> pd.DataFrame:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputDataError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputDataError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})",
            hint="save the file as UTF-8 (Excel: 'CSV UTF-8'); Shift_JIS files are not read",
        ) from None
    try:
        raw = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise InputDataError(f"{path}: the file is empty (expected a header line)") from None
    except pd.errors.ParserError as exc:
        raise InputDataError(f"{path}: not a readable CSV file ({exc})".strip()) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw


_NUMBER_MESSAGES = {
    "number": "is not a number",
    "count": "is not a non-negative number",
    "ratio": "is not a non-negative number",
    "rate": "is not within 0..1",
}


def _parse_number(
    column: str, values: pd.Series, text: pd.Series, empty: np.ndarray, kind: str
) -> tuple[pd.Series, pd.Series]:
    """Numbers of one column and each bad cell's message (None where the cell is fine).

    Precedence per cell: not finite (``inf``, ``NaN`` spelled out), not a number, outside the
    kind's bounds (count/ratio >= 0, rate 0..1), outside the field's plausible range
    (:mod:`sfsync.plausible`).
    """
    number = pd.to_numeric(text, errors="coerce").astype("float64")
    infinite = non_finite(text, number).to_numpy(dtype=bool)
    number = number.mask(infinite)
    unparsed = ~empty & ~infinite & number.isna().to_numpy()
    with np.errstate(invalid="ignore"):
        outside = np.zeros(len(number), dtype=bool)
        if kind in ("count", "ratio", "rate"):
            outside |= (number < 0).to_numpy()
        if kind == "rate":
            outside |= (number > 1).to_numpy()
    rng = plausible_range(column)
    implausible = rng.outside(number).to_numpy() & ~outside if rng else np.zeros(len(number), bool)
    shown = " (" + values.astype(object).map(repr) + ")"
    kind_message = _NUMBER_MESSAGES[kind]
    messages = np.select(
        [infinite, unparsed | outside, implausible],
        [
            f"{column} is not a finite number" + shown,
            f"{column} {kind_message}" + shown,
            f"{column} is outside the plausible range {rng.text() if rng else ''}" + shown,
        ],
        default=None,
    )
    return number.mask(unparsed | outside | implausible), pd.Series(messages, index=values.index)


def _parse_column(column: str, values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """Parsed column and each bad cell's message (None where the cell is fine)."""
    text = values.astype("string").str.strip()
    empty = (text == "").to_numpy(dtype=bool)
    text = text.mask(text == "")
    shown = " (" + values.astype(object).map(repr) + ")"
    none = pd.Series(None, index=values.index, dtype=object)

    def where(bad: np.ndarray, message: str) -> pd.Series:
        return (f"{column} {message}" + shown).where(bad, None)

    if kind in ("id", "text"):
        return text, (where(empty, "is empty") if kind == "id" else none)
    if kind == "date":
        parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        return parsed, where(~empty & parsed.isna().to_numpy(), "is not a date YYYY-MM-DD")
    if kind == "month":
        ok = text.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").fillna(False).to_numpy(dtype=bool)
        return text, where(~ok, "is not a month YYYY-MM")
    if kind == "bool":
        lowered = text.str.lower()
        parsed = lowered.map({"true": True, "false": False}).astype("boolean")
        return parsed, where(~empty & parsed.isna().to_numpy(), "is not true/false")
    return _parse_number(column, values, text, empty, kind)


def _read_table(
    path: str | Path,
    kinds: dict[str, str],
    required: list[str],
    key: list[str],
    what: str,
) -> CsvTable:
    path = Path(path)
    raw = _read_raw(path)
    absent = [c for c in required if c not in raw.columns]
    if absent:
        raise InputDataError(
            f"{path}: the {what} file lacks required column(s): {', '.join(absent)} "
            f"(expected canonical columns: {', '.join(kinds)})"
        )
    lines = np.arange(len(raw)) + 2  # header is line 1
    bad = np.zeros(len(raw), dtype=bool)
    messages: list[tuple[int, str]] = []
    out: dict[str, pd.Series] = {}
    for column in raw.columns:
        kind = kinds.get(column, "text")
        parsed, cell_messages = _parse_column(column, raw[column], kind)
        bad_cells = cell_messages.notna().to_numpy(dtype=bool)
        for i in np.flatnonzero(bad_cells):
            messages.append((i, str(cell_messages.iloc[i])))
        bad |= bad_cells
        out[column] = parsed.reset_index(drop=True)
    for column, kind in kinds.items():
        if column not in out:
            dtype = {"date": "datetime64[ns]", "bool": "boolean"}.get(kind)
            dtype = dtype or (
                "float64" if kind in ("number", "count", "ratio", "rate") else "string"
            )
            out[column] = pd.Series([None] * len(raw), dtype=dtype)
    frame = pd.DataFrame(out)
    if key:
        keys = frame[key].astype("string").fillna("")
        dup = keys.duplicated(keep="first").to_numpy() & ~bad
        if dup.any():
            group_keys = [keys[c] for c in key]
            first = pd.Series(np.arange(len(keys))).groupby(group_keys).transform("min")
            for i in np.flatnonzero(dup):
                shown = "/".join(str(v) for v in keys.iloc[i])
                messages.append(
                    (i, f"duplicate {'/'.join(key)} {shown} (first on line {lines[first[i]]})")
                )
        bad |= dup
    problems = [RowProblem(str(path), int(lines[i]), m) for i, m in sorted(messages)]
    return CsvTable(frame.loc[~bad].reset_index(drop=True), problems)


def read_accounts(path: str | Path, extra_inputs: dict[str, str] | None = None) -> CsvTable:
    """Accounts CSV. ``extra_inputs`` (column -> number|boolean|category) types the extra
    account columns a scorecard reads (for instance seed-000 checklist steps)."""
    kinds = dict(ACCOUNTS) | {c: _INPUT_KINDS[k] for c, k in (extra_inputs or {}).items()}
    table = _read_table(path, kinds, ACCOUNTS_REQUIRED, ["account_id"], "accounts")
    if len(table.frame) == 0 and not table.problems:
        raise InputDataError(
            f"{path}: the accounts file has a header but no account rows; nothing to score",
            hint="export the accounts again (one row per account under the header line)",
        )
    return table


def read_usage(path: str | Path, extra_inputs: dict[str, str] | None = None) -> CsvTable:
    """Usage CSV: one row per tenant and month (a repeated tenant/month is a bad row)."""
    kinds = dict(USAGE) | {c: _INPUT_KINDS[k] for c, k in (extra_inputs or {}).items()}
    return _read_table(path, kinds, USAGE_REQUIRED, ["tenant_id", "month"], "usage")


def read_activities(path: str | Path) -> CsvTable:
    """Activities CSV (Tasks and Events already reduced to the canonical columns)."""
    table = _read_table(path, ACTIVITIES, ACTIVITIES_REQUIRED, [], "activities")
    table.frame["type"] = table.frame["type"].str.lower()
    return table


def read_benchmarks(path: str | Path) -> dict[str, float]:
    """Benchmark CSV ``industry,rate`` (a ``default`` row applies to unlisted industries)."""
    path = Path(path)
    raw = _read_raw(path)
    if not {"industry", "rate"} <= set(raw.columns):
        raise InputDataError(f"{path}: needs the columns industry,rate")
    rates = pd.to_numeric(raw["rate"].str.strip(), errors="coerce")
    bad = rates.isna() | (rates < 0) | (rates > 1) | (raw["industry"].str.strip() == "")
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputDataError(f"{path}:{line}: rate must be a number within 0..1")
    return dict(zip(raw["industry"].str.strip(), rates.astype(float), strict=True))


def read_previous(path: str | Path) -> pd.DataFrame:
    """Previous scores CSV (``account_id``, ``health_score``: an earlier ``sfsync score``
    output) for the trend; a score that is not a number from 0 to 100 is an error."""
    path = Path(path)
    raw = _read_raw(path)
    absent = [c for c in ("account_id", "health_score") if c not in raw.columns]
    if absent:
        raise InputDataError(
            f"{path}: the previous scores file lacks the column(s) {', '.join(absent)} "
            "(give an earlier `sfsync score` output)"
        )
    text = raw["health_score"].str.strip()
    scores = pd.to_numeric(text.mask(text == ""), errors="coerce")
    bad = (text != "") & ~scores.between(0, 100)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputDataError(
            f"{path}:{line}: health_score {raw['health_score'].iloc[line - 2]!r} is not a "
            "score from 0 to 100"
        )
    return pd.DataFrame({"account_id": raw["account_id"].str.strip(), "health_score": scores})


def output_columns(categories: list[str]) -> list[str]:
    """Columns of the ``sfsync score`` CSV: SPEC §9's, then trend, signals split by kind,
    missing measures, data quality and the explanation."""
    return (
        ["account_id", "health_score", "health_band"]
        + [f"{c}_points" for c in categories]
        + ["segment", "lifecycle_phase", "signals", "health_trend", "churn_signals"]
        + ["upsell_signals", "missing_measures", "data_quality", "explanation"]
    )


def write_scores(
    scores: pd.DataFrame, categories: list[str], path: str | Path, columns: list[str] | None = None
) -> None:
    """Write the scores CSV (missing values as empty cells); ``columns``: other than
    :func:`output_columns` (e.g. with the ``scorecard`` column of scorecards per segment)."""
    scores[columns or output_columns(categories)].to_csv(path, index=False)
