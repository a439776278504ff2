"""A sample book (the sandbox's sample data) as the canonical frames the nightly job's compute
stage receives, with the dtypes the extract stage gives them (Arrow-backed ``str`` text,
``datetime64[ns]`` dates, nullable booleans), scored with the default scorecard, and a
previous snapshot that differs from this run (signals gone and new, owners changed). For the
equivalence tests of the compute stage's vectorised functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import pandas as pd
from sfsync_sandbox.sample_data import generate

from sfsync.automation.playbook import Playbook, load_playbook
from sfsync.scoring import load_scorecard, score_accounts
from sfsync.templates import TemplateSet, load_templates

AS_OF = date(2025, 3, 15)
PLAYBOOK: Playbook = load_playbook("mappings/playbook.yaml")
TEMPLATES: TemplateSet = load_templates("mappings/templates", "ja")


@dataclass(frozen=True)
class Book:
    """The compute stage's inputs and the scoring result of one sample book."""

    accounts: pd.DataFrame
    usage: pd.DataFrame
    activities: pd.DataFrame
    users: pd.DataFrame
    scores: pd.DataFrame
    signals: pd.DataFrame
    previous: pd.DataFrame
    as_of: date


def _ns(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[ns]")


def canonical_accounts(raw: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The accounts source's canonical frame (churned accounts left out, as the job does)."""
    frame = pd.DataFrame(
        {
            "account_id": raw["Id"].astype("str"),
            "name": raw["Name"].astype("str"),
            "owner_id": raw["OwnerId"].astype("str"),
            "industry": raw["Industry"].astype("str"),
            "arr": pd.to_numeric(raw["ARR__c"]).astype("float64"),
            "is_enterprise": raw["Enterprise__c"].astype("boolean"),
            "contract_start": _ns(raw["Contract_Start_Date__c"]),
            "renewal_date": _ns(raw["Renewal_Date__c"]),
            "tenant_id": raw["Tenant_Id__c"].astype("str"),
            "competitor_evaluation": raw["Competitor_Evaluation__c"].astype("boolean"),
            "churned_on": _ns(raw["Churn_Date__c"]),
            "churn_reason": raw["Churn_Reason__c"].astype("str"),
        }
    )
    live = frame["churned_on"].isna() | (frame["churned_on"] > pd.Timestamp(as_of))
    return frame[live.to_numpy()].reset_index(drop=True)


def canonical_activities(tasks: pd.DataFrame, events: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Completed Tasks and Events as the activities source's canonical frame."""
    parts = [
        pd.DataFrame(
            {
                "account_id": tasks["WhatId"].astype("str"),
                "date": _ns(tasks["ActivityDate"]),
                "type": tasks["Type"].astype("str").str.lower(),
                "completed": (tasks["Status"] == "Completed").astype("boolean"),
            }
        ),
        pd.DataFrame(
            {
                "account_id": events["WhatId"].astype("str"),
                "date": _ns(events["ActivityDate"]),
                "type": events["Type"].astype("str").str.lower(),
                "completed": (_ns(events["ActivityDate"]) <= pd.Timestamp(as_of)).astype("boolean"),
            }
        ),
    ]
    return pd.concat(parts, ignore_index=True)


def canonical_users(raw: pd.DataFrame) -> pd.DataFrame:
    """The users source's canonical frame."""
    return pd.DataFrame(
        {
            "user_id": raw["Id"].astype("str"),
            "name": raw["Name"].astype("str"),
            "email": raw["Email"].astype("str"),
            "manager_id": raw["ManagerId"].astype("str"),
            "is_active": raw["IsActive"].astype("boolean"),
        }
    )


def canonical_usage(raw: pd.DataFrame) -> pd.DataFrame:
    """The usage source's canonical frame (dates in nanoseconds)."""
    usage = raw.copy()
    for column in ("last_login_date", "tutorial_completed_at"):
        if column in usage:
            usage[column] = _ns(usage[column])
    return usage


def previous_snapshot(scores: pd.DataFrame, signals: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A stored snapshot unlike this run: about a third of each account's signals were not
    there yet (new this run), some accounts had signals that are gone now, and about one
    account in twenty had another owner (a hand-over)."""
    rng = np.random.default_rng(seed)
    kept = signals[rng.random(len(signals)) > 0.33]
    codes = kept.groupby("account_id")["code"].agg(lambda c: ";".join(sorted(c)))
    ids = scores["account_id"].astype("str")
    joined = pd.Series(codes.reindex(ids.to_numpy()).to_numpy(), dtype="str")
    gone = rng.random(len(ids)) < 0.05
    joined[gone] = (joined[gone].fillna("") + "; usage_drop ;;").str.lstrip("; ")
    owners = scores["owner_id"].astype("str").to_numpy(dtype=object).copy()
    moved = rng.random(len(ids)) < 0.05
    owners[moved] = np.roll(owners[moved], 1)
    return pd.DataFrame(
        {
            "account_id": ids,
            "health_score": scores["health_score"],
            "health_band": scores["health_band"],
            "segment": scores["segment"],
            "signals": joined,
            "owner_id": pd.Series(owners, dtype="str"),
        }
    )


@cache
def sample_book(accounts: int = 600, seed: int = 7, as_of: date = AS_OF) -> Book:
    """The sample book of ``accounts`` accounts as the compute stage sees it (cached: treat
    the frames as read-only)."""
    sample = generate(accounts=accounts, seed=seed, as_of=as_of)
    acc = canonical_accounts(sample.accounts, as_of)
    activities = canonical_activities(sample.tasks, sample.events, as_of)
    usage = canonical_usage(sample.usage)
    result = score_accounts(
        acc,
        usage,
        activities,
        as_of=as_of,
        scorecard=load_scorecard("mappings/scorecards/default.yaml"),
        templates=TEMPLATES,
    )
    scores = result.scores.merge(acc[["account_id", "owner_id"]], on="account_id", how="left")
    return Book(
        accounts=acc,
        usage=usage,
        activities=activities,
        users=canonical_users(sample.users),
        scores=result.scores,
        signals=result.signals,
        previous=previous_snapshot(scores, result.signals, seed),
        as_of=as_of,
    )
