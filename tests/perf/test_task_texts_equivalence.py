"""Task texts rendered column by column (issue 14, compute stage) are the texts
``TemplateSet.render`` gives row by row, and the signal and upsell Tasks built from whole
columns are the frames the row-by-row builders gave (``tests/perf/reference_*.py``): on the
sample book in the extract stage's dtypes and as object columns, with missing names, owners,
scores, bands and segments, inactive owners and a fallback, long subjects, templates with
format specs and braces, and no rows at all."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from sfsync.errors import ConfigError
from sfsync.salesforce import tasks, upsell
from sfsync.salesforce.task_texts import (
    date_values,
    fit_texts,
    per_distinct,
    render_columns,
    str_values,
    text_values,
)
from sfsync.salesforce.tasks import TaskSettings
from sfsync.templates import TemplateSet
from tests.perf import reference_signal_tasks, reference_upsell
from tests.perf.book import TEMPLATES, Book, sample_book
from tests.perf.test_compute_equivalence import as_object

AS_OF = date(2025, 3, 15)


@pytest.fixture(scope="module")
def book() -> Book:
    return sample_book(600)


def odd_book(book: Book) -> Book:
    """``book`` with missing names, owners, scores, bands and segments, an owner who is not
    an active user, an account twice, a signal twice and a signal of an unknown account."""
    acc = book.accounts.copy()
    acc.loc[acc.index[::7], "name"] = None
    acc.loc[acc.index[::11], "owner_id"] = None
    acc.loc[acc.index[::13], "owner_id"] = "005000000000999AAA"  # no such user
    acc = pd.concat([acc, acc.iloc[[3]].assign(name="二重")], ignore_index=True)
    scores = book.scores.copy()
    scores.loc[scores.index[::5], "health_score"] = pd.NA
    scores.loc[scores.index[::6], "health_band"] = None
    scores.loc[scores.index[::8], "segment"] = None
    signals = pd.concat(
        [
            book.signals,
            book.signals.iloc[:5],
            pd.DataFrame(
                {
                    "account_id": ["001unknown", "001unknown"],
                    "code": ["red_band", "near_plan_limit"],
                    "kind": ["churn", "upsell"],
                    "severity": ["high", "low"],
                }
            ).astype(book.signals.dtypes.to_dict()),
        ],
        ignore_index=True,
    )
    return Book(acc, book.usage, book.activities, book.users, scores, signals, book.previous,
                book.as_of)  # fmt: skip


def variants(book: Book) -> list[Book]:
    odd = odd_book(book)
    out = []
    for b in (book, odd):
        out.append(b)
        frames = [as_object(f) for f in (b.accounts, b.usage, b.activities, b.users)]
        frames += [as_object(f) for f in (b.scores, b.signals, b.previous)]
        out.append(Book(*frames, as_of=b.as_of))
    return out


def signal_tasks(module, b: Book, **kw) -> pd.DataFrame:
    settings = kw.pop("settings", TaskSettings())
    return module.build_signal_tasks(
        b.signals, b.accounts, b.users, as_of=AS_OF, settings=settings, templates=TEMPLATES, **kw
    )


def upsell_tasks(module, b: Book, **kw) -> pd.DataFrame:
    return module.build_upsell_tasks(
        b.signals, b.accounts, b.users, as_of=AS_OF, templates=TEMPLATES, **kw
    )


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"with_scores": True},
        {"with_scores": True, "settings": TaskSettings(fallback_owner="itoya@nexpro.example")},
        {"with_scores": True, "settings": TaskSettings(severities=("high",), priority="Normal")},
    ],
)
def test_signal_tasks_are_the_row_by_row_ones(book, which, kw):
    b = variants(book)[which]
    kw = dict(kw)
    if kw.pop("with_scores", False):
        kw["scores"] = b.scores
    new = signal_tasks(tasks, b, **kw)
    old = signal_tasks(reference_signal_tasks, b, **kw)
    assert len(new) > 0
    assert_frame_equal(new, old)


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize(
    "kw", [{}, {"with_scores": True}, {"with_scores": True, "fallback_owner": "005000000000001AAA"}]
)
def test_upsell_tasks_are_the_row_by_row_ones(book, which, kw):
    b = variants(book)[which]
    kw = dict(kw)
    if kw.pop("with_scores", False):
        kw["scores"] = b.scores
    new = upsell_tasks(upsell, b, **kw)
    old = upsell_tasks(reference_upsell, b, **kw)
    assert len(new) > 0
    assert_frame_equal(new, old)


def test_float_scores_and_no_users_are_the_row_by_row_ones(book):
    b = odd_book(book)
    scores = b.scores.assign(health_score=b.scores["health_score"].astype("float64") + 0.5)
    for users in (None, b.users.iloc[:0], b.users.drop(columns="name")):
        case = Book(b.accounts, b.usage, b.activities, users, scores, b.signals, b.previous,
                    b.as_of)  # fmt: skip
        assert_frame_equal(
            upsell_tasks(upsell, case, scores=scores),
            upsell_tasks(reference_upsell, case, scores=scores),
        )
        assert_frame_equal(
            signal_tasks(tasks, case, scores=scores),
            signal_tasks(reference_signal_tasks, case, scores=scores),
        )


def test_no_signals_or_none_chosen_give_the_same_empty_frames(book):
    churn_only = book.signals[book.signals["kind"] == "churn"]
    upsell_only = book.signals[book.signals["kind"] == "upsell"]
    for signals, build, module_new, module_old in (
        (book.signals.iloc[:0], signal_tasks, tasks, reference_signal_tasks),
        (upsell_only, signal_tasks, tasks, reference_signal_tasks),
        (None, upsell_tasks, upsell, reference_upsell),
        (churn_only, upsell_tasks, upsell, reference_upsell),
    ):
        case = Book(book.accounts, book.usage, book.activities, book.users, book.scores,
                    signals, book.previous, book.as_of)  # fmt: skip
        new, old = build(module_new, case), build(module_old, case)
        assert new.empty
        assert_frame_equal(new, old)


@pytest.mark.parametrize("fallback", [None, "itoya@nexpro.example", "ITOYA@nexpro.example",
                                      "0055g0000000001AAA", "nobody@example.invalid"])  # fmt: skip
def test_resolve_owners_is_the_row_by_row_one(book, fallback):
    users = book.users.copy()
    users.loc[users.index[2], "is_active"] = False
    owners = pd.concat(
        [book.accounts["owner_id"], pd.Series([None, "", users.at[2, "user_id"]], dtype="str")],
        ignore_index=True,
    )
    mixed = pd.Series([*owners.iloc[:20].tolist(), 5, np.nan, None, pd.NA], dtype=object)
    for column in (owners, owners.astype(object), mixed, owners.iloc[:0]):
        for table in (users, None, users.iloc[:0]):
            new = tasks.resolve_owners(column, table, fallback)
            old = reference_signal_tasks.resolve_owners(column, table, fallback)
            assert_series_equal(new, old)


def templates_of(**fields: str) -> TemplateSet:
    return TemplateSet("test", "ja", {"tasks": {"t": fields}})


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "{a}さん: {b}", "description": "{b}\n{{not a placeholder}} {a}{a}"},
        {"subject": "plain text only"},
        {"subject": "{a:>6}|{b!r}", "description": "{a}"},  # specs: rendered row by row
        {"subject": "", "description": "{b}"},
    ],
)
def test_render_columns_is_render_row_by_row(fields):
    templates = templates_of(**fields)
    a = np.array(["x", "", "顧客", "a{b}", "  "], dtype=object)
    values = {"a": a, "b": "固定", "unused": a}
    out = render_columns(templates, "tasks", "t", values, len(a))
    for i in range(len(a)):
        row = templates.render("tasks", "t", {"a": a[i], "b": "固定", "unused": a[i]})
        assert {name: texts[i] for name, texts in out.items()} == row


def test_render_columns_raises_as_render_does_and_renders_no_rows_silently():
    templates = templates_of(subject="{missing} {a}")
    with pytest.raises(ConfigError) as raised:
        render_columns(templates, "tasks", "t", {"a": np.array(["x"], dtype=object)}, 1)
    with pytest.raises(ConfigError) as expected:
        templates.render("tasks", "t", {"a": "x"})
    assert str(raised.value) == str(expected.value)
    assert render_columns(templates, "tasks", "t", {"a": np.array([], dtype=object)}, 0) == {
        "subject": pytest.approx([])
    }


def test_text_helpers_spell_values_as_the_row_by_row_code():
    values = pd.Series(["a", None, "", "b"], dtype="string")
    assert text_values(values).tolist() == [tasks.text_or_empty(v) for v in values]
    mixed = pd.Series([1, 2.5, None, pd.NaT, "x", True, date(2025, 1, 2)], dtype=object)
    assert text_values(mixed).tolist() == [tasks.text_or_empty(v) for v in mixed]
    ints = pd.Series([1, None, 87], dtype="Int64")
    assert text_values(ints).tolist() == ["1", "", "87"]
    for column in (values, values.astype("str"), values.astype(object), mixed, ints):
        assert str_values(column).tolist() == [str(v) for v in column]
    assert str_values(values, records=True).tolist() == ["a", "None", "", "b"]
    codes = pd.Series(["b", None, "a", "b"], dtype="str")
    assert per_distinct(codes, str.upper, "-").tolist() == ["B", "-", "A", "B"]
    floats = pd.Series([0.5, -0.0, 0.0, np.nan])
    assert per_distinct(floats, lambda v: f"{v:.0f}").tolist() == ["0", "-0", "0", ""]
    long = np.array(["短い", "長" * 300, "x" * 255, "y" * 256], dtype=object)
    cut = fit_texts(long, 255)
    assert [len(t) for t in cut] == [2, 255, 255, 255]
    assert cut[1].endswith("…") and cut[2] == "x" * 255 and cut[3] == "y" * 254 + "…"


def test_date_values_spell_dates_as_strftime_does():
    stamps = pd.Series(
        pd.to_datetime(
            [
                "2025-01-02",
                None,
                "1700-12-31 23:59",
                "2262-04-11 23:00",
                "1969-12-31 23:00",
                "2024-02-29 00:00:01",
            ],  # fmt: skip
            format="mixed",
        )
    )
    for column in (stamps, stamps.astype("datetime64[s]"), stamps.dt.tz_localize("Asia/Tokyo")):
        expected = [t.strftime("%Y-%m-%d") if pd.notna(t) else "" for t in column]
        assert date_values(column).tolist() == expected
    assert date_values(stamps.iloc[:0]).tolist() == []
