"""What actually happened to each account: churned (with a date) or retained.

Two sources:

* a CSV ``account_id,churned,churn_date`` (offline use; ``churned`` is ``true``/``false``,
  ``churn_date`` ISO or empty); accounts missing from the file are left out of calibration;
* Salesforce Accounts, with the field that records churn named in ``mappings/outcomes.yaml``:
  a churn date field (set = churned on that date) or a status field whose listed values mean
  churned. Every account read is an observation (not churned = retained).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, model_validator

from sfsync.configfile import StrictModel, load_model
from sfsync.errors import ConfigError, ConfigProblem, InputDataError, SourceError

OUTCOMES_MAPPING = "outcomes.yaml"
TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f", ""}


class OutcomeConfig(StrictModel):
    """``mappings/outcomes.yaml``: which Account field says that a customer churned."""

    object: str = "Account"
    churn_date_field: str | None = None
    status_field: str | None = None
    churned_values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way(self) -> OutcomeConfig:
        if (self.churn_date_field is None) == (self.status_field is None):
            raise ValueError("set exactly one of churn_date_field and status_field")
        if self.status_field and not self.churned_values:
            raise ValueError("status_field needs churned_values (the values meaning churned)")
        return self


def load_outcome_config(mappings_dir: str | Path) -> OutcomeConfig:
    path = Path(mappings_dir) / OUTCOMES_MAPPING
    if not path.exists():
        raise ConfigError(
            [ConfigProblem(str(path), "", "does not exist")],
            hint="name the Account field that records churn in it, or pass --outcomes FILE",
        )
    return load_model(path, OutcomeConfig)


def read_outcomes_csv(path: str | Path) -> pd.DataFrame:
    """``account_id, churned (bool), churn_date (datetime64)`` from a CSV; errors name the row."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputDataError(f"{path}: cannot read the outcomes CSV: {exc}") from None
    missing = [c for c in ("account_id", "churned") if c not in raw.columns]
    if missing:
        raise InputDataError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            "expected account_id,churned[,churn_date]"
        )
    churned, dates = [], []
    for i, row in enumerate(raw.to_dict(orient="records"), start=2):
        flag = str(row["churned"]).strip().lower()
        if flag not in TRUE | FALSE:
            raise InputDataError(f"{path}: row {i}: churned must be true or false, not {flag!r}")
        churned.append(flag in TRUE)
        text = str(row.get("churn_date", "") or "").strip()
        try:
            dates.append(pd.Timestamp(text) if text else pd.NaT)
        except ValueError:
            raise InputDataError(f"{path}: row {i}: churn_date {text!r} is not a date") from None
        if not str(row["account_id"]).strip():
            raise InputDataError(f"{path}: row {i}: account_id is empty")
    return pd.DataFrame(
        {
            "account_id": raw["account_id"].str.strip(),
            "churned": pd.Series(churned, dtype="bool"),
            "churn_date": pd.to_datetime(pd.Series(dates, dtype="object")).astype("datetime64[ns]"),
        }
    )


def read_outcomes_salesforce(client: Any, config: OutcomeConfig) -> pd.DataFrame:
    """Every Account with its churn outcome, read with one paged SOQL query.

    The field is checked against the object's describe first, so that an org without it gets
    a message naming the field and the fix rather than a SOQL error."""
    field = str(config.churn_date_field or config.status_field)
    describe = getattr(client, "describe", None)
    if describe is not None:
        names = {f["name"].lower() for f in describe(config.object).get("fields", [])}
        if field.lower() not in names:
            raise SourceError(
                f"{config.object} has no field {field} (named in mappings/{OUTCOMES_MAPPING}), "
                "or the integration user cannot read it",
                hint="deploy deploy/salesforce (Churn_Date__c and the sfsync_Integration "
                f"permission set), name the org's churn field in mappings/{OUTCOMES_MAPPING}, "
                "or pass --outcomes FILE",
            )
    records = client.query(f"SELECT Id, {field} FROM {config.object}")
    frame = pd.DataFrame.from_records(records, columns=["Id", field])
    if config.churn_date_field:
        dates = pd.to_datetime(frame[field], errors="coerce").astype("datetime64[ns]")
        churned = dates.notna()
    else:
        wanted = {v.casefold() for v in config.churned_values}
        churned = frame[field].map(lambda v: isinstance(v, str) and v.casefold() in wanted)
        dates = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.DataFrame(
        {
            "account_id": frame["Id"].astype(str),
            "churned": churned.astype(bool),
            "churn_date": dates,
        }  # fmt: skip
    )
