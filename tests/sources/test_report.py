"""The run summary and terminal progress."""

from datetime import date

from sfsync.report import Progress, RunSummary


def test_summary_text_says_what_happened():
    s = RunSummary(job="nightly", as_of=date(2025, 3, 15), run_id=7, status="succeeded")
    s.read = {"accounts": 2400, "usage": 28000}
    s.quarantined = {"accounts": 0, "usage": 3}
    s.scored = 2400
    s.bands = {"red": 100, "green": 1000}
    s.signals_active, s.signals_new, s.churn_signals_new = 300, 12, 9
    s.fields_written, s.tasks_created, s.tasks_updated, s.unchanged = 2400, 12, 0, 0
    s.signal_alerts, s.alerts_sent = 12, 13
    s.api_calls = {"salesforce": 31, "metabase": 2}
    text = s.to_text()
    assert "Run 7 of nightly as of 2025-03-15: succeeded" in text
    assert "read         2,400 accounts, 28,000 usage" in text
    assert "quarantined  3 usage" in text
    assert "scored       2,400 accounts (1,000 green, 100 red)" in text
    assert "signals      300 active, 12 new (9 churn risks, 3 upsell)" in text
    assert "2,400 account updates, 12 tasks created" in text
    assert "alerted      12 new signals (13 Slack messages sent)" in text
    assert "API calls    33 (salesforce 31, metabase 2)" in text
    event = s.to_event()
    assert event["api_calls_total"] == 33 and event["quarantined"]["usage"] == 3
    assert "job" not in s.counts() and s.counts()["scored"] == 2400


def test_dry_run_summary_shows_the_plan_not_writes():
    s = RunSummary(job="nightly", as_of=date(2025, 3, 15), dry_run=True, status="succeeded")
    s.fields_planned, s.tasks_planned = 5, 2
    text = s.to_text()
    assert "dry run: nothing written" in text
    assert "planned      5 account updates, 2 task upserts" in text
    assert "  written" not in text and "alerted" not in text


def test_progress_is_periodic_and_silent_without_a_terminal():
    lines, now = [], [0.0]
    p = Progress(lines.append, interval=2.0, clock=lambda: now[0])
    p.stage("Reading usage")
    for rows in (1000, 2000, 3000):
        p.rows("usage", rows)
        now[0] += 1.1
    p.rows("usage", 3500, done=True)
    assert lines == [
        "Reading usage",
        "  usage: 1,000 rows …",
        "  usage: 3,000 rows …",
        "  usage: 3,500 rows",
    ]
    quiet = Progress(None)
    quiet.stage("x")
    quiet.callback("usage")(5)  # no echo, no error


def test_an_import_job_summary_has_no_scoring_or_alert_lines():
    s = RunSummary(job="weekly-usage-import", as_of=date(2025, 3, 15), status="succeeded")
    s.read, s.fields_written = {"accounts": 150, "usage": 131}, 144
    text = s.to_text()
    assert "144 account updates" in text
    assert "scored" not in text and "alerted" not in text


def test_the_campaign_line_says_who_joined_and_who_was_a_member_already():
    s = RunSummary(job="nightly", as_of=date(2025, 3, 15), status="succeeded")
    assert "campaigns" not in s.to_text()  # no rules, or nobody wanted: no line
    s.campaign_members_planned, s.campaign_members_added = 1250, 1050
    s.campaign_members_by_rule = {"step_day1": 50, "monthly_tips": 1200}
    s.campaign_members_already, s.campaign_members_duplicates = 30, 200
    assert (
        "  campaigns    1,050 contacts added to Campaigns (step_day1 50, monthly_tips 1,200); "
        "30 already members; 200 became members before the write (DUPLICATE_VALUE, counted as "
        "members)"
    ) in s.to_text()
    assert s.counts()["campaign_members_duplicates"] == 200  # kept in the runs ledger
    s.dry_run, s.campaign_members_duplicates = True, 0
    assert "  campaigns    1,250 Campaign members planned (step_day1 50, monthly_tips 1,200); " \
        "30 already members" in s.to_text()  # fmt: skip
