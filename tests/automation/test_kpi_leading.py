"""NRR from ARR snapshots, the churn definitions, weekly leading KPIs, the sfsync Task reader's
conversion, and the management report's texts (no spec references or command-line flags)."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from sfsync.automation.kpi import compute_kpis
from sfsync.automation.kpi_nrr import nrr_from_arr_snapshots
from sfsync.automation.kpi_report import counts_text, render_kpi_report
from sfsync.automation.kpi_weekly import weekly_leading_kpis
from sfsync.automation.playbook import load_playbook
from sfsync.plan import AUTO_CLOSED_MARKER
from sfsync.sources.sfsync_tasks import canonical_sfsync_tasks
from sfsync.templates import load_templates
from tests.automation.test_kpi import ACCOUNTS, ACTIVITIES, SIGNALS, SNAPSHOTS, TASKS, USAGE

PLAYBOOK = load_playbook("mappings/playbook.yaml")


def _with(**kpi):
    return PLAYBOOK.model_copy(update={"kpi": PLAYBOOK.kpi.model_copy(update=kpi)})


ARR = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a3", "a1", "a3", "a6", "a3", "a7"],
        "as_of": pd.to_datetime(
            ["2024-12-20", "2024-12-31", "2024-11-30", "2025-03-10"]
            + ["2025-03-10", "2025-03-10", "2025-03-28", "2025-01-05"]
        ),
        "health_score": [50, 40, 60, 55, 70, 80, 72, 20],
        "health_band": ["orange", "orange", "yellow", "orange", "yellow", "green", "yellow", "red"],
        "arr": [1200.0, 600.0, 300.0, 1500.0, 300.0, 900.0, 240.0, 100.0],
    }
)


def test_nrr_from_arr_snapshots_by_hand():
    # base 2024-12-31: a1 1200 (12-20), a2 600, a3 300 (11-30) = 2100; a6 is new, a7 came later
    # now (March, latest): a1 1500, a3 240 (03-28 downgrade), a2 no March snapshot = 0
    f = nrr_from_arr_snapshots(
        ARR,
        base_day=pd.Timestamp("2024-12-31"),
        start=pd.Timestamp("2025-03-01"),
        end=pd.Timestamp("2025-03-31"),
    )
    assert (f.now, f.base) == (1740.0, 2100.0)
    churned = pd.Series(pd.to_datetime([pd.NaT, "2025-03-15"]), index=["a2", "a1"])
    f = nrr_from_arr_snapshots(
        ARR,
        base_day=pd.Timestamp("2024-12-31"),
        start=pd.Timestamp("2025-03-01"),
        end=pd.Timestamp("2025-03-31"),
        churned=churned,
    )
    assert (f.now, f.base) == (240.0, 2100.0)  # a1 churned in March: 0 whatever it said


def test_nrr_in_the_kpis_and_why_not():
    report = compute_kpis("2025-03", playbook=PLAYBOOK, snapshots=ARR)
    assert report.get("nrr").value == pytest.approx(1740 / 2100)
    assert report.nrr_source == "arr_snapshots"
    no_base = compute_kpis("2025-03", playbook=_with(nrr_months=5), snapshots=ARR)
    assert no_base.get("nrr").status == "na"
    assert (no_base.get("nrr").reason, no_base.get("nrr").reason_params) == (
        "no_arr_snapshots",
        {"day": "2024-10-31"},
    )
    feb = compute_kpis("2025-05", playbook=_with(nrr_months=2), snapshots=ARR)
    assert (feb.get("nrr").reason, feb.get("nrr").reason_params) == (
        "no_arr_in_month",
        {"month": "2025-05"},
    )
    mrr = compute_kpis(
        "2025-03",
        playbook=_with(nrr_source="mrr"),
        snapshots=ARR,
    )
    assert mrr.get("nrr").reason == "no_mrr_data" and mrr.nrr_source == "mrr"


def test_churn_definitions():
    # contract_years: contracted by 03-31: all 6; churned within 2 years of their start: a2
    # (2024-06-01 → 2025-03-10) and a5 (2023-05-01 → 2024-08-01)
    strategy = compute_kpis("2025-03", playbook=_with(churn_definition="contract_years"),
                            snapshots=None, accounts=ACCOUNTS)  # fmt: skip
    c = strategy.get("churn_rate")
    assert (c.numerator, c.denominator) == (2, 6) and strategy.churn_definition == "contract_years"
    # a churn 3 years after the contract start is outside the 2-year definition
    late = ACCOUNTS.assign(
        churned_on=pd.to_datetime([pd.NaT, "2025-03-10", pd.NaT, pd.NaT, "2026-06-01", pd.NaT])
    )
    c = compute_kpis(
        "2026-06", playbook=_with(churn_definition="contract_years"), snapshots=None, accounts=late
    ).get("churn_rate")
    assert (c.numerator, c.denominator) == (1, 6)
    trailing = compute_kpis("2025-03", playbook=_with(churn_definition="trailing_months"),
                            snapshots=None, accounts=ACCOUNTS)  # fmt: skip
    t = trailing.get("churn_rate")
    assert (t.numerator, t.denominator) == (1, 2) and trailing.churn_definition == "trailing_months"


def test_weekly_leading_kpis():
    weekly = weekly_leading_kpis(
        ARR, start=pd.Timestamp("2025-03-01"), end=pd.Timestamp("2025-03-31")
    )
    # weeks with snapshots: 03-10..03-16 (a1 55, a3 70, a6 80) and 03-24..03-30 (a3 72)
    assert [str(w) for w in weekly["week_start"]] == ["2025-03-10", "2025-03-24"]
    assert weekly["accounts"].tolist() == [3, 1]
    assert weekly["average_score"].tolist() == pytest.approx([205 / 3, 72.0])
    assert weekly["red_share"].tolist() == [0.0, 0.0]
    only = weekly_leading_kpis(
        SNAPSHOTS, start=pd.Timestamp("2025-03-01"), end=pd.Timestamp("2025-03-31"), book={"a3"}
    )
    assert only[["accounts", "red"]].values.tolist() == [[1, 1]]  # a3 red on 03-15
    assert str(only["week_start"].iloc[0]) == "2025-03-10"
    # the week containing the 1st starts in February
    first = weekly_leading_kpis(
        SNAPSHOTS, start=pd.Timestamp("2025-03-01"), end=pd.Timestamp("2025-03-31")
    )
    assert str(first["week_start"].iloc[0]) == "2025-02-24"  # a1's 03-01 snapshot


def test_sfsync_task_rows_become_kpi_tasks():
    raw = pd.DataFrame(
        {
            "Id": ["00T1", "00T2", "00T3"],
            "WhatId": ["001A", "001B", "001C"],
            "Sync_Key__c": [
                "upsell:near_plan_limit:001A:2025-03",
                "signal:x:001B:2025-03",
                "onboarding_setup:001C:2025-01-01",
            ],  # fmt: skip
            "Status": ["Completed", "Completed", "Not Started"],
            "IsClosed": ["true", "true", "false"],
            "ActivityDate": ["2025-03-20", "2025-03-21", "2025-01-04"],
            "CompletedDateTime": [
                "2025-03-20T15:30:00.000+0000",
                "2025-03-21T01:00:00.000+0000",
                None,
            ],  # fmt: skip
            "Description": ["called", f"cleared {AUTO_CLOSED_MARKER}", None],
        }
    )
    tasks = canonical_sfsync_tasks(raw, "Asia/Tokyo")
    assert tasks["completed"].tolist() == [True, False, False]  # sfsync's own closing is no touch
    assert str(tasks["completed_at"].iloc[0]) == "2025-03-21 00:30:00"  # JST
    assert tasks["completed_at"].iloc[1:].isna().all()
    assert tasks["account_id"].tolist() == ["001A", "001B", "001C"]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_management_report_names_no_spec_or_flags(language):
    templates = load_templates("mappings/templates", language)
    report = compute_kpis(
        "2025-03",
        playbook=PLAYBOOK,
        snapshots=pd.concat([SNAPSHOTS, ARR], ignore_index=True),
        accounts=ACCOUNTS,
        usage=USAGE,
        activities=ACTIVITIES,
        tasks=TASKS,
        signals=SIGNALS,
    )
    html = render_kpi_report(
        report,
        templates=templates,
        playbook=PLAYBOOK,
        trend=pd.DataFrame(columns=["month", "key", "value", "status"]),
        bands=pd.DataFrame(),
        generated_at=datetime(2025, 4, 1, 7, tzinfo=UTC),
    )
    for forbidden in ("SPEC", "§", "--"):
        assert forbidden not in html, forbidden
    if language == "ja":
        assert "契約開始から 2 年以内に解約した顧客数" in html
        assert "週次の先行指標（2025-03）" in html and "Step1 キックオフ（ゴール設定）" in html
        assert "検知から48時間以内の接触率" in html
    else:
        assert "within 2 years of their contract start" in html
        assert "Weekly leading KPIs (2025-03)" in html and "Step 4 Review" in html
    # every n/a reason and missing-input text of the templates is free of flags too
    for section in ("kpi_reasons", "kpi_missing_inputs"):
        for key, fields in templates.sections[section].items():
            assert "--" not in fields["text"] and "SPEC" not in fields["text"], key
    assert counts_text(templates, report.get("upsell_proposals")) == "2"


def test_a_wrong_kpi_setting_is_a_clear_error(tmp_path):
    import yaml

    from sfsync.errors import ConfigError

    data = yaml.safe_load(Path("mappings/playbook.yaml").read_text(encoding="utf-8"))
    data["kpi"]["churn_definition"] = "two_years"
    data["kpi"]["nrr_source"] = "crm"
    path = tmp_path / "playbook.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_playbook(path)
    text = str(err.value)
    assert "playbook.yaml" in text and "kpi.churn_definition" in text
    assert "'trailing_months' or 'contract_years'" in text and "kpi.nrr_source" in text


def test_arr_is_kept_in_the_snapshots_and_feeds_nrr(store_url):
    """The record stage keeps each account's ARR in its snapshot (``with_arr``); the KPI inputs
    read them back from the state store with the months NRR needs before the trend."""
    from datetime import date

    from sfsync.automation.kpi_inputs import signals_from_store, snapshots_from_store
    from sfsync.state.db import open_store
    from sfsync.state.signals import sync_signals
    from sfsync.state.snapshots import save_snapshots, with_arr

    accounts = pd.DataFrame({"account_id": ["a1", "a2"], "arr": [1200.0, 600.0]})
    scores = pd.DataFrame(
        {"account_id": ["a1", "a2"], "health_score": [70, 30], "health_band": ["yellow", "red"]}
    )
    store = open_store(store_url)
    try:
        save_snapshots(store, None, "default", date(2024, 9, 30), with_arr(scores, accounts))
        later = with_arr(scores, accounts.assign(arr=[1500.0, 0.0]))
        save_snapshots(store, None, "default", date(2025, 3, 20), later)
        signals = pd.DataFrame(
            {"account_id": ["a2"], "code": ["red_band"], "kind": ["churn"], "severity": ["high"]}
        )
        sync_signals(store, date(2025, 3, 20), signals)
        snaps = snapshots_from_store(store, "2025-03", trend_months=4, nrr_months=3)
        ledger = signals_from_store(store, "2025-03", trend_months=1)
    finally:
        store.dispose()
    # trend months 2024-12..2025-03 plus 3 months before them: from 2024-09-01
    assert sorted(snaps["arr"].tolist()) == [0.0, 600.0, 1200.0, 1500.0]
    assert ledger[["account_id", "code", "kind"]].values.tolist() == [["a2", "red_band", "churn"]]
    report = compute_kpis("2025-03", playbook=_with(nrr_months=6), snapshots=snaps)
    assert report.get("nrr").value == pytest.approx(1500 / 1800)  # base 2024-09-30
