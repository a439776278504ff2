"""The compute stage's column operations (issue 14) give exactly what the row-by-row code gave
(``tests/perf/reference_*.py``): follow-up Tasks, closable follow-up keys (in the same order),
trigger fields, touch columns and urgent-meeting Tasks — on the sample book in the extract
stage's dtypes and as plain object columns, at as-of dates on rule boundaries (quarter and
month starts and ends, leap days), and on odd inputs: missing values everywhere, empty and
absent frames, duplicate ids, ties, a labelled index."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from sfsync.automation import closures, followups, touch, trigger_fields, urgent
from sfsync.automation.touch import TouchModelPolicy
from tests.perf import (
    reference_closures,
    reference_followups,
    reference_touch,
    reference_trigger_fields,
    reference_urgent,
)
from tests.perf.book import PLAYBOOK, TEMPLATES, Book, sample_book

AS_OF_DATES = [
    date(2025, 3, 15),  # the book's own
    date(2025, 3, 31),  # the end of a month and of the fiscal quarter
    date(2025, 4, 1),  # the start of a month and of a quarter
    date(2024, 2, 29),  # a leap day
    date(2025, 2, 28),
    date(2024, 12, 31),  # a year's end
]


def as_object(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """``frame`` with its text columns as plain object columns (a hand-made frame's dtypes)."""
    if frame is None:
        return None
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.StringDtype):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def edge_book(book: Book, as_of: date) -> Book:
    """The first 300 accounts of ``book`` with contract starts and renewal dates on every
    boundary around ``as_of`` (days, month ends, the onboarding and renewal windows), missing
    values in each column, a duplicate account, usage with a missing month, missing
    deliveries and deliveries in the as-of month, and odd activities."""
    acc = book.accounts.head(300).copy()
    n = len(acc)
    day = pd.Timestamp(as_of)
    offsets = np.arange(n) - 200  # contract starts from 200 days after to 100 days before
    acc["contract_start"] = (day - pd.to_timedelta(offsets * 3, unit="D")).astype("datetime64[ns]")
    acc.loc[acc.index[::7], "contract_start"] = day - pd.DateOffset(months=3)  # period end
    acc.loc[acc.index[1::7], "contract_start"] = (day - pd.DateOffset(months=3)).replace(day=1)
    acc.loc[acc.index[::11], "contract_start"] = pd.NaT
    renewal = day + pd.to_timedelta(np.arange(n) - 30, unit="D")
    acc["renewal_date"] = renewal.astype("datetime64[ns]")
    acc.loc[acc.index[::5], "renewal_date"] = day + pd.DateOffset(months=2)  # opens today
    acc.loc[acc.index[::13], "renewal_date"] = pd.NaT
    acc.loc[acc.index[::17], "name"] = None
    acc.loc[acc.index[::19], "owner_id"] = None
    acc.loc[acc.index[::23], "tenant_id"] = None
    acc.loc[acc.index[::3], "churn_reason"] = " Price "  # a recovery reason, spelled loosely
    acc = pd.concat([acc, acc.iloc[[4]]], ignore_index=True)  # one account twice
    usage = book.usage[book.usage["tenant_id"].isin(acc["tenant_id"].dropna())].copy()
    usage.loc[usage.index[::29], "deliveries"] = np.nan
    usage.loc[usage.index[::31], "month"] = None
    month = day.strftime("%Y-%m")
    extra = usage.iloc[:40].copy()
    extra["month"] = month
    extra["deliveries"] = 3.0
    usage = pd.concat([usage, extra], ignore_index=True)
    acts = book.activities[book.activities["account_id"].isin(acc["account_id"])].copy()
    acts.loc[acts.index[::37], "type"] = None
    acts.loc[acts.index[::41], "completed"] = pd.NA
    qbr = acts.iloc[:25].copy()
    qbr["type"] = "QBR"
    qbr["date"] = day
    qbr["completed"] = True
    acts = pd.concat([acts, qbr], ignore_index=True)
    ids = set(acc["account_id"])
    scores = book.scores[book.scores["account_id"].isin(ids)].reset_index(drop=True)
    signals = book.signals[book.signals["account_id"].isin(ids)].reset_index(drop=True)
    previous = book.previous[book.previous["account_id"].isin(ids)].copy()
    previous.loc[previous.index[::9], "signals"] = None
    previous = pd.concat([previous, previous.iloc[[2]].assign(signals="red_band")])
    return Book(acc, usage, acts, book.users, scores, signals, previous, as_of)


@pytest.fixture(scope="module")
def book() -> Book:
    return sample_book(600)


def books(book: Book, as_of: date, kind: str) -> Book:
    chosen = book if kind.startswith("sample") else edge_book(book, as_of)
    frames = [chosen.accounts, chosen.usage, chosen.activities, chosen.users]
    frames += [chosen.scores, chosen.signals, chosen.previous]
    if kind.endswith("object"):
        frames = [as_object(f) for f in frames]
    return Book(*frames, as_of=as_of)


KINDS = ["sample", "sample-object", "edges", "edges-object"]


def followup_args(b: Book) -> dict:
    return dict(
        as_of=b.as_of,
        playbook=PLAYBOOK,
        templates=TEMPLATES,
        usage=b.usage,
        activities=b.activities,
        scores=b.scores,
        signals=b.signals,
        previous=b.previous,
        users=b.users,
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("as_of", AS_OF_DATES)
def test_followups_are_the_row_by_row_ones(book, kind, as_of):
    b = books(book, as_of, kind)
    new = followups.build_followups(b.accounts, **followup_args(b))
    old = reference_followups.build_followups(b.accounts, **followup_args(b))
    assert len(new) > 0
    assert_frame_equal(new, old)


@pytest.mark.parametrize(
    "change",
    [
        {"usage": None, "activities": None, "signals": None, "previous": None, "users": None},
        {"scores": None},
        {"usage": "empty", "activities": "empty", "signals": "empty", "users": "empty"},
    ],
)
def test_followups_without_optional_frames_are_the_row_by_row_ones(book, change):
    b = edge_book(book, date(2025, 3, 31))
    args = followup_args(b)
    for name, value in change.items():
        args[name] = args[name].iloc[:0] if value == "empty" else None
    accounts = b.accounts
    if change.get("scores", 1) is None:
        accounts = accounts.merge(b.scores[["account_id", "segment"]], on="account_id")
    new = followups.build_followups(accounts, **args)
    old = reference_followups.build_followups(accounts, **args)
    assert_frame_equal(new, old)


def test_followups_of_no_accounts_and_of_a_labelled_index(book):
    b = edge_book(book, date(2025, 3, 15))
    for accounts in (b.accounts.iloc[:0], b.accounts.set_index(b.accounts.index * 3 + 5)):
        new = followups.build_followups(accounts, **followup_args(b))
        old = reference_followups.build_followups(accounts, **followup_args(b))
        assert_frame_equal(new, old)


def test_long_subjects_are_cut_as_before(book):
    b = edge_book(book, date(2025, 3, 15))
    accounts = b.accounts.assign(name=b.accounts["name"].str.repeat(40))
    new = followups.build_followups(accounts, **followup_args(b))
    old = reference_followups.build_followups(accounts, **followup_args(b))
    assert (new["subject"].str.len() == followups.SUBJECT_LENGTH).any()
    assert_frame_equal(new, old)


@pytest.mark.parametrize("kind", KINDS)
def test_first_delivery_dates_are_the_row_by_row_ones(book, kind):
    b = books(book, date(2025, 3, 1), kind)
    index = b.accounts.index * 2 + 1  # a labelled index is kept
    accounts = b.accounts.set_index(index)
    usage = b.usage.set_index(b.usage.index[::-1])
    new = followups.first_delivery_dates(accounts, usage, b.as_of)
    old = reference_followups.first_delivery_dates(accounts, usage, b.as_of)
    assert new.notna().any()
    assert_series_equal(new, old)


def test_month_starts_parse_each_month_as_pandas_does():
    months = pd.Series(["2025-03", None, "2024-02", "2025-03", "1999-12"], dtype="str")
    expected = pd.to_datetime(months.astype("string") + "-01", format="%Y-%m-%d")
    assert_series_equal(followups.month_starts(months), expected.astype("datetime64[ns]"))
    assert followups.month_starts(months.iloc[:0]).empty
    with pytest.raises(ValueError):
        followups.month_starts(pd.Series(["2025-13"]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("as_of", AS_OF_DATES)
def test_closable_followups_are_the_same_keys_in_the_same_order(book, kind, as_of):
    b = books(book, as_of, kind)
    args = dict(as_of=as_of, playbook=PLAYBOOK, activities=b.activities, usage=b.usage)
    new = closures.closable_followups(b.accounts, **args)
    old = reference_closures.closable_followups(b.accounts, **args)
    assert new
    assert len(new) == len(old) and dict(new.items()) == old
    assert all(new[key] == reason for key, reason in old.items())  # each key looked up
    onboarding = closures.onboarding_done_keys(b.accounts, b.usage, as_of, PLAYBOOK)
    assert list(onboarding.items()) == [(k, v) for k, v in old.items() if k.startswith("onb")]


@pytest.mark.parametrize(
    "change",
    [
        {"usage": None, "activities": None},
        {"usage": "empty", "activities": "empty"},
        {"accounts": "empty"},
        {"accounts": "no contract start"},
        {"accounts": "every contract start missing"},
    ],
)
def test_closable_followups_on_odd_inputs_are_the_row_by_row_ones(book, change):
    b = edge_book(book, date(2025, 3, 31))
    frames = {"accounts": b.accounts, "usage": b.usage, "activities": b.activities}
    for name, value in change.items():
        if value == "empty":
            frames[name] = frames[name].iloc[:0]
        elif value == "no contract start":
            frames[name] = frames[name].drop(columns="contract_start")
        elif value == "every contract start missing":
            frames[name] = frames[name].assign(contract_start=pd.NaT)
        else:
            frames[name] = None
    accounts = frames.pop("accounts")
    args = dict(as_of=b.as_of, playbook=PLAYBOOK, **frames)
    new = closures.closable_followups(accounts, **args)
    old = reference_closures.closable_followups(accounts, **args)
    assert list(new.items()) == list(old.items())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("as_of", AS_OF_DATES)
def test_trigger_columns_are_the_row_by_row_ones(book, kind, as_of):
    b = books(book, as_of, kind)
    args = dict(
        as_of=as_of,
        onboarding=PLAYBOOK.onboarding,
        renewal_lead_months=PLAYBOOK.renewal.lead_months,
        usage=b.usage,
        activities=b.activities,
    )
    ids = pd.concat([b.scores["account_id"], pd.Series(["001unknown"], dtype="str")])
    new = trigger_fields.trigger_columns(ids, b.accounts, **args)
    old = reference_trigger_fields.trigger_columns(ids, b.accounts, **args)
    assert_frame_equal(new, old)
    for usage in (None, b.usage.iloc[:0], b.usage.drop(columns="login_days")):
        args["usage"] = usage
        new = trigger_fields.trigger_columns(ids, b.accounts, **args)
        old = reference_trigger_fields.trigger_columns(ids, b.accounts, **args)
        assert_frame_equal(new, old)


def touch_result(module, b: Book, policy: TouchModelPolicy):
    return module.touch_columns(b.scores, b.signals, b.accounts, as_of=b.as_of, policy=policy)


POLICIES = [
    TouchModelPolicy(),
    TouchModelPolicy(
        segments={"S": "tech", "A": "low", "B": "mid", "C": "high"},
        step_up_bands=["red", "orange"],
        task_models=["high"],
    ),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("policy", POLICIES)
def test_touch_columns_are_the_row_by_row_ones(book, kind, policy):
    b = books(book, date(2025, 3, 15), kind)
    new, old = touch_result(touch, b, policy), touch_result(reference_touch, b, policy)
    assert new.columns["tech_touch_triggers"].notna().any()
    assert_frame_equal(new.columns, old.columns)
    assert_frame_equal(new.task_signals, old.task_signals)


def test_touch_columns_on_ties_missing_values_and_no_signals(book):
    b = edge_book(book, date(2025, 3, 15))
    scores = b.scores.copy()
    scores.loc[scores.index[::4], "segment"] = None
    scores.loc[scores.index[::6], "health_band"] = None
    accounts = b.accounts.assign(arr=1000.0, renewal_date=pd.Timestamp("2025-06-01"))
    accounts.loc[accounts.index[::8], "arr"] = np.nan
    twice = pd.concat([b.signals, b.signals.iloc[:50]], ignore_index=True)  # repeated codes
    for signals in (b.signals, twice, b.signals.iloc[:0]):
        case = Book(accounts, b.usage, b.activities, b.users, scores, signals, b.previous, b.as_of)
        for policy in POLICIES:
            new = touch_result(touch, case, policy)
            old = touch_result(reference_touch, case, policy)
            assert_frame_equal(new.columns, old.columns)
            assert_frame_equal(new.task_signals, old.task_signals)


def urgent_tasks(module, b: Book, previous, **kw):
    return module.build_urgent_tasks(
        b.signals,
        b.scores,
        b.accounts,
        b.users,
        as_of=b.as_of,
        playbook=PLAYBOOK,
        templates=TEMPLATES,
        previous=previous,
        **kw,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_urgent_tasks_are_the_row_by_row_ones(book, kind):
    b = books(book, date(2025, 3, 17), kind)
    for previous in (b.previous, None, b.previous.iloc[:0], b.previous.drop(columns="signals")):
        for fallback in (None, "itoya@nexpro.example"):
            new = urgent_tasks(urgent, b, previous, fallback_manager=fallback)
            old = urgent_tasks(reference_urgent, b, previous, fallback_manager=fallback)
            assert_frame_equal(new, old)
    assert len(urgent_tasks(urgent, b, None)) > 0


def test_new_signals_read_codes_as_before(book):
    b = edge_book(book, date(2025, 3, 15))
    codes = b.signals.groupby("account_id")["code"].agg(list)
    ids = codes.index[:6].tolist()
    first, second, third = (codes[i] for i in ids[:3])
    previous = pd.DataFrame(
        {
            "account_id": ids + [ids[0], None],
            "signals": [
                " ; ".join(first[:1]) + " ;no_login_60d",  # spaces around codes
                ";;",  # nothing but separators
                None,
                "",
                ";".join(["usage_drop", *second, "competitor"]),
                ";;".join(third) + " ",
                ";".join(first),  # the account's last row counts
                "red_band",
            ],
        }
    )
    signals = pd.concat(
        [b.signals, pd.DataFrame({"account_id": [None], "code": ["red_band"]})], ignore_index=True
    )
    for frame in (previous, as_object(previous)):
        new = urgent.new_signals(signals, frame)
        old = reference_urgent.new_signals(signals, frame)
        assert 0 < len(new) < len(signals)
        assert_frame_equal(new, old)


def test_no_urgent_tasks_when_nothing_is_new_or_none_is_asked(book):
    b = books(book, date(2025, 3, 15), "sample")
    for signals in (b.signals.iloc[:0], b.signals[b.signals["kind"] == "upsell"], None):
        case = Book(b.accounts, b.usage, b.activities, b.users, b.scores, signals, b.previous,
                    b.as_of)  # fmt: skip
        new = urgent_tasks(urgent, case, b.previous)
        assert_frame_equal(new, urgent_tasks(reference_urgent, case, b.previous))
    calm = b.scores.assign(segment="C", health_band="green")  # no escalation reason
    case = Book(b.accounts, b.usage, b.activities, b.users, calm, b.signals, None, b.as_of)
    assert urgent_tasks(urgent, case, None).empty
    assert_frame_equal(urgent_tasks(urgent, case, None), urgent_tasks(reference_urgent, case, None))


def test_the_edge_book_reaches_every_rule(book):
    """The cases above are worth something only if the edge book asks for every rule."""
    b = edge_book(book, date(2025, 3, 31))
    tasks = followups.build_followups(b.accounts, **followup_args(b))
    rules = set(tasks["rule"])
    steps = {f"onboarding_{s}" for s in closures.ONBOARDING_STEPS}
    assert steps <= rules, steps - rules
    assert {"qbr", "renewal_reminder", "overdue_touch", "handover"} <= rules
    assert any(r.startswith("recovery_") for r in rules)
    keys = closures.closable_followups(
        b.accounts, as_of=b.as_of, playbook=PLAYBOOK, usage=b.usage, activities=b.activities
    )
    assert {k.split(":")[0] for k in keys} >= steps | {"qbr"}
