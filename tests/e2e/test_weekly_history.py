"""The nightly job's weekly score history on the practice org (issue 12 item 4): one
Health_Score_History__c record per account and ISO week, the band change recorded, no
duplicate on a re-run, and Health_Direction__c from the 28-day trend."""

from __future__ import annotations

from collections import Counter

from sfsync.state import open_store
from sfsync.state.history_periods import history_periods, period_written_on
from tests.e2e.conftest import customers, run_cli

HISTORY = "Health_Score_History__c"


def _nightly(project, sb, as_of: str):
    result = run_cli(project, sb, "run", "nightly", "--as-of", as_of, "--accept-mass-change")
    assert result.exit_code == 0, result.output
    return result


def _by_week(records: list[dict]) -> dict[str, list[dict]]:
    weeks: dict[str, list[dict]] = {}
    for r in records:
        weeks.setdefault(r["History_Key__c"].split(":", 1)[1], []).append(r)
    return weeks


def test_weekly_history_direction_and_no_duplicates(project, sandbox_factory):
    sb = sandbox_factory(accounts=60)
    first = _nightly(project, sb, "2025-02-10")  # a Monday: week 2025-W07
    assert "score history records (2025-W07)" in first.output
    scored = {a["Id"] for a in customers(sb.admin.records("Account"), "2025-02-10")}
    weeks = _by_week(sb.admin.records(HISTORY))
    assert set(weeks) == {"2025-W07"}
    assert {r["Account__c"] for r in weeks["2025-W07"]} == scored
    assert all(r["Score_Date__c"] == "2025-02-10" for r in weeks["2025-W07"])
    assert all(r.get("Previous_Band__c") is None for r in weeks["2025-W07"])  # no earlier one

    history_ids = {r["Id"] for r in weeks["2025-W07"]}
    sb.admin.reset_counters()
    _nightly(project, sb, "2025-02-11")  # Tuesday, same week: no history write
    assert set(_by_week(sb.admin.records(HISTORY))) == {"2025-W07"}
    assert not history_ids & set(sb.admin.counters()["writes_per_record"])

    second = _nightly(project, sb, "2025-02-17")  # next Monday: week 2025-W08
    assert "score history records (2025-W08)" in second.output
    sb.admin.reset_counters()
    rerun = _nightly(project, sb, "2025-02-17")  # a re-run the same night writes nothing new
    assert "score history records" not in rerun.output
    assert sb.admin.counters()["records_written"] == 0
    # the state store forgets the week: the records are upserted on the same keys again
    store = open_store(f"sqlite:///{project.root / '.sfsync' / 'state.db'}")
    try:
        with store.begin() as conn:
            conn.execute(history_periods.delete().where(history_periods.c.period == "2025-W08"))
    finally:
        store.dispose()
    again = _nightly(project, sb, "2025-02-17")
    assert "score history records (2025-W08)" in again.output
    _nightly(project, sb, "2025-03-10")  # four weeks after the first: W11, with a trend
    records = sb.admin.records(HISTORY)
    keys = Counter(r["History_Key__c"] for r in records)
    assert max(keys.values()) == 1  # never a second record for an account and week
    weeks = _by_week(records)
    assert set(weeks) == {"2025-W07", "2025-W08", "2025-W11"}
    # the band change: W11's previous band is the band of the latest snapshot a week earlier
    # (2025-02-17, the W08 snapshot)
    w08 = {r["Account__c"]: r["Health_Band__c"] for r in weeks["2025-W08"]}
    w11 = {r["Account__c"]: r for r in weeks["2025-W11"]}
    assert w11 and all(r["Previous_Band__c"] == w08[a] for a, r in w11.items() if a in w08)

    store = open_store(f"sqlite:///{project.root / '.sfsync' / 'state.db'}")
    try:
        assert str(period_written_on(store, "nightly", "2025-W08")) == "2025-02-17"
    finally:
        store.dispose()

    accounts = customers(sb.admin.records("Account"), "2025-03-10")
    with_trend = [a for a in accounts if a.get("Health_Trend__c") is not None]
    assert len(with_trend) > len(accounts) / 2
    for a in with_trend:  # the default dead band: ±5 points is flat
        trend = a["Health_Trend__c"]
        expected = "up" if trend > 5 else "down" if trend < -5 else "flat"
        assert a["Health_Direction__c"] == expected, a

    # the next night: the direction is written only where it changed (here: nowhere new)
    sb.admin.reset_counters()
    _nightly(project, sb, "2025-03-11")
    after = {a["Id"]: a for a in sb.admin.records("Account")}
    written = {k for k in sb.admin.counters()["writes_per_record"] if k.startswith("001")}
    for a in with_trend:
        if after[a["Id"]]["Health_Direction__c"] == a["Health_Direction__c"]:
            continue
        assert a["Id"] in written
