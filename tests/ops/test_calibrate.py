"""``sfsync calibrate`` on a synthetic history where one measure truly predicts churn and
another is noise: the suggestion favours the first, the proposed YAML loads with the scorecard
loader, the live file is unchanged, and the HTML page is self-contained."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sfsync.ops.calibrate import calibrate, observations, proposed_scorecard
from sfsync.ops.calibrate_report import render_html, render_text
from sfsync.ops.outcomes import read_outcomes_csv
from sfsync.scoring import load_scorecard
from sfsync.state.db import open_store
from sfsync.state.snapshots import save_snapshots
from sfsync.templates import load_templates
from tests.ops.conftest import run_cli

DATES = [date(2024, 10, 1), date(2024, 11, 1), date(2024, 12, 1)]
N = 300


def _synthetic(seed: int = 3):
    """Deliveries points predict churn; login-days points are noise; the rest are constant."""
    rng = np.random.default_rng(seed)
    ids = [f"001SYN{i:012d}" for i in range(N)]
    churned = rng.random(N) < 0.3
    frames = []
    for as_of in DATES:
        deliveries = np.where(churned, rng.choice([0, 15, 25], N, p=[0.6, 0.3, 0.1]),
                              rng.choice([0, 15, 25], N, p=[0.1, 0.3, 0.6]))  # fmt: skip
        login_days = rng.choice([0, 8, 15], N)
        points = {"deliveries": deliveries, "login_days": login_days, "last_touch": 10,
                  "meeting": 0, "pipeline_conversion": 12, "renewal": 7}  # fmt: skip
        score = deliveries + login_days + 10 + 0 + 12 + 7
        band = pd.cut(score, [-1, 39, 59, 79, 100], labels=["red", "orange", "yellow", "green"])
        measure_json = [
            json.dumps({k: float(v if np.isscalar(v) else v[i]) for k, v in points.items()})
            for i in range(N)
        ]
        frames.append((as_of, pd.DataFrame({
            "account_id": ids, "health_score": score, "health_band": band.astype(str),
            "usage_points": deliveries + login_days, "measure_points": measure_json})))  # fmt: skip
    outcomes = pd.DataFrame({"account_id": ids, "churned": churned,
                             "churn_date": [pd.Timestamp("2025-01-15") if c else pd.NaT
                                            for c in churned]})  # fmt: skip
    return frames, outcomes


@pytest.fixture
def history_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    frames, outcomes = _synthetic()
    store = open_store(url)
    for as_of, frame in frames:
        save_snapshots(store, None, "default", as_of, frame)
    yield store, url, outcomes
    store.dispose()


@pytest.fixture
def scorecards(tmp_path):
    repo = Path(__file__).resolve().parents[2] / "mappings"
    target = tmp_path / "mappings"
    import shutil

    shutil.copytree(repo, target)
    return target / "scorecards" / "default.yaml"


def test_the_predictive_measure_gains_points_and_the_noise_loses(history_store, scorecards):
    store, _, outcomes = history_store
    live_before = hashlib.sha256(scorecards.read_bytes()).hexdigest()
    report = calibrate(store, scorecards, outcomes, DATES[0], DATES[-1])
    by_name = {m.measure: m for m in report.measures}
    assert report.accounts == N and report.snapshots == N * len(DATES)
    assert by_name["deliveries"].auc > 0.75
    assert 0.4 < by_name["login_days"].auc < 0.6
    assert by_name["deliveries"].suggested_max > by_name["deliveries"].current_max
    assert by_name["login_days"].suggested_max < by_name["login_days"].current_max
    assert by_name["deliveries"].n_accounts == N
    # churned accounts sit in the lower bands
    bands = report.bands.set_index("health_band")
    assert bands.loc["red", "churn_rate"] > bands.loc["yellow", "churn_rate"]
    assert bands.loc["green", "accounts"] == 0  # empty bands are shown with a count of 0
    text = render_text(report, load_templates(scorecards.parents[1] / "templates", "en"))
    assert "Overall score AUC" in text and "suggested max" in text

    # the proposal loads with the scoring engine's loader; the live file is unchanged
    proposed = report.proposed_path
    assert proposed == scorecards.with_name("default.proposed.yaml")
    card = load_scorecard(proposed)
    maxima = {name: card.measure_max(m) for _, name, m in card.measures()}
    assert maxima["deliveries"] == by_name["deliveries"].suggested_max
    assert maxima["login_days"] == by_name["login_days"].suggested_max
    assert card.categories["usage"].max_points == maxima["deliveries"] + maxima["login_days"]
    assert hashlib.sha256(scorecards.read_bytes()).hexdigest() == live_before
    live = load_scorecard(scorecards)
    assert {n: live.measure_max(m) for _, n, m in live.measures()}["deliveries"] == 25


def test_cli_with_an_outcomes_csv_writes_the_html_page(history_store, scorecards, tmp_path):
    _, url, outcomes = history_store
    csv = tmp_path / "churn.csv"
    frame = outcomes.assign(churned=outcomes["churned"].map({True: "true", False: "false"}),
                            churn_date=outcomes["churn_date"].dt.strftime("%Y-%m-%d"))  # fmt: skip
    frame.to_csv(csv, index=False)
    root = scorecards.parents[2]
    (root / "sfsync.yaml").write_text(f"state_url: {url}\n", encoding="utf-8")
    (root / "jobs").mkdir(exist_ok=True)

    class P:
        config = root / "sfsync.yaml"

    html = tmp_path / "calibration.html"
    result = run_cli(P, None, "calibrate", "--from", "2024-10-01", "--to", "2024-12-31",
                     "--outcomes", str(csv), "--html", str(html))  # fmt: skip
    assert result.exit_code == 0, result.stderr[-3000:]
    # the configured language (ja by default): labels of the scorecard, texts of the templates
    assert "スコア全体の AUC" in result.stdout and "配信数" in result.stdout
    assert "default.proposed.yaml" in result.stdout
    # no job in jobs/ scores with the scorecard: the stored points only, and it says so
    assert "スコアカード「default」で採点するジョブが jobs/ にない" in result.stdout
    assert "スコアカードにない入力：" not in result.stdout
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")  # fmt: skip
    assert "バンド別の解約率" in page and "配信数" in page and 'lang="ja"' in page


def test_observation_is_the_last_snapshot_before_churn():
    history = pd.DataFrame({
        "account_id": ["a", "a", "a", "b"],
        "as_of": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-03-01"]),
        "health_score": [80, 50, 10, 70], "health_band": ["green", "orange", "red", "yellow"]})  # fmt: skip
    outcomes = pd.DataFrame({"account_id": ["a", "b"], "churned": [True, False],
                             "churn_date": pd.to_datetime(["2024-02-15", None])})  # fmt: skip
    last = observations(history, outcomes, "last").set_index("account_id")
    assert last.loc["a", "health_score"] == 50 and last.loc["b", "health_score"] == 70
    first = observations(history, outcomes, "first").set_index("account_id")
    assert first.loc["a", "health_score"] == 80


def test_a_bad_outcomes_csv_names_the_file_and_row(tmp_path):
    from sfsync.errors import InputDataError

    path = tmp_path / "o.csv"
    path.write_text("account_id,churned\n001A,true\n001B,maybe\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"o.csv: row 3: churned must be true or false"):
        read_outcomes_csv(path)


def test_a_category_whose_measures_lose_every_point_keeps_a_valid_maximum(scorecards):
    from sfsync.ops.calibrate_stats import MeasureSeparation

    card = load_scorecard(scorecards)
    raw = yaml.safe_load(scorecards.read_text(encoding="utf-8"))
    suggestions = [MeasureSeparation(n, 0.5, 10, None, None, card.measure_max(m),
                                     0.0 if c == "contract" else card.measure_max(m))
                   for c, n, m in card.measures()]  # fmt: skip
    out = proposed_scorecard(raw, card, suggestions)
    assert out["categories"]["contract"]["max_points"] > 0
    from sfsync.scoring.scorecard import scorecard_from_dict

    scorecard_from_dict(
        {k: v for k, v in out.items() if k not in ("rules_file", "benchmarks_file")}
    )


def test_html_escapes_names():
    from sfsync.ops.calibrate import CalibrationReport
    from sfsync.ops.calibrate_stats import MeasureSeparation, churn_by_band

    obs = pd.DataFrame({"health_band": ["red", "green"], "churned": [True, False]})
    report = CalibrationReport("<x>", date(2024, 1, 1), date(2024, 2, 1), 2, 1, 2,
                               churn_by_band(obs), 1.0,
                               [MeasureSeparation("<m>", None, 2, None, None, 10, 10)])  # fmt: skip
    page = render_html(report, load_templates("mappings/templates", "en"))
    assert "<m>" not in page and "&lt;m&gt;" in page


def test_outcomes_are_read_from_salesforce_accounts_with_the_configured_field(sandbox, tmp_path):
    from sfsync.config import load_settings
    from sfsync.ops.outcomes import OutcomeConfig, load_outcome_config, read_outcomes_salesforce
    from sfsync.salesforce.client import (
        SalesforceClient,  # noqa: F401 - the real client
        connect,
    )

    settings = load_settings(None, env=sandbox.env())
    client = connect(settings.salesforce, timezone="Asia/Tokyo")
    by_date = read_outcomes_salesforce(client, OutcomeConfig(churn_date_field="Renewal_Date__c"))
    accounts = sandbox.admin.records("Account")
    assert len(by_date) == len(accounts)
    with_date = {a["Id"] for a in accounts if a.get("Renewal_Date__c")}
    assert set(by_date.loc[by_date["churned"], "account_id"]) == with_date
    by_status = read_outcomes_salesforce(
        client, OutcomeConfig(status_field="Industry", churned_values=[accounts[0]["Industry"]])
    )
    assert by_status["churned"].sum() == sum(
        1 for a in accounts if a.get("Industry") == accounts[0]["Industry"]
    )
    (tmp_path / "outcomes.yaml").write_text("object: Account\nstatus_field: X\n", "utf-8")
    with pytest.raises(Exception, match="churned_values"):
        load_outcome_config(tmp_path)


def test_an_org_without_the_churn_field_gets_the_field_and_the_fix_named(sandbox):
    from sfsync.config import load_settings
    from sfsync.errors import SourceError
    from sfsync.ops.outcomes import OutcomeConfig, read_outcomes_salesforce
    from sfsync.salesforce.client import connect

    client = connect(load_settings(None, env=sandbox.env()).salesforce, timezone="Asia/Tokyo")
    with pytest.raises(SourceError, match="Account has no field Lost_On__c") as err:
        read_outcomes_salesforce(client, OutcomeConfig(churn_date_field="Lost_On__c"))
    assert "outcomes.yaml" in str(err.value) and "--outcomes FILE" in str(err.value.hint)
    shipped = read_outcomes_salesforce(client, OutcomeConfig(churn_date_field="Churn_Date__c"))
    churned = {a["Id"] for a in sandbox.admin.records("Account") if a.get("Churn_Date__c")}
    assert churned and set(shipped.loc[shipped["churned"], "account_id"]) == churned


def _frames_like_the_history(frames, seed: int = 5):
    """A ``read_inputs`` for the synthetic history: as of each date, accounts linked to a
    tenant each and usage rows of the scoring month whose deliveries match the stored points
    (0, 15, 25 points -> 0, 2, 5 deliveries), mails whose opens separate churned from retained
    accounts, and video views that are noise."""
    from sfsync.ops.calibrate_inputs import InputFrames
    from tests.scoring.builders import activities_frame

    _, outcomes = _synthetic()
    churned = outcomes["churned"].to_numpy()
    rng = np.random.default_rng(seed)
    opens = np.where(churned, rng.integers(0, 9, N), rng.integers(6, 17, N)).astype(float)
    video = rng.integers(0, 11, N).astype(float)
    by_date = dict(frames)

    def read(as_of):
        points = by_date[as_of]["measure_points"].map(json.loads)
        deliveries = points.map(lambda p: {0.0: 0.0, 15.0: 2.0, 25.0: 5.0}[p["deliveries"]])
        ids = by_date[as_of]["account_id"]
        tenants = [f"T{i}" for i in range(N)]
        accounts = pd.DataFrame({"account_id": ids, "tenant_id": pd.array(tenants, "string"),
                                 "contract_start": pd.Timestamp("2023-01-01")})  # fmt: skip
        month = f"{as_of.year}-{as_of.month - 1:02d}"  # the scoring month (Oct-Dec dates)
        usage = pd.DataFrame({"tenant_id": pd.array(tenants, "string"), "month": month,
                              "deliveries": deliveries.to_numpy(), "email_delivered": 20.0,
                              "email_opens": opens, "video_views": video})  # fmt: skip
        return InputFrames(accounts, usage, activities_frame([]))

    return read


def printed_snippet(text: str, title: str) -> str:
    """The YAML printed under ``title`` (after its explanation and a blank line, up to the
    next blank line)."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(title))
    start = next(i for i in range(at, len(lines)) if not lines[i].strip()) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_inputs_not_in_the_scorecard_are_ranked_and_the_best_proposed(history_store, scorecards):
    from sfsync.ops.calibrate_report_inputs import input_label
    from sfsync.ops.calibrate_snippet import apply_snippet
    from tests.test_no_codes import raw_codes

    store, _, outcomes = history_store
    frames, _ = _synthetic()
    templates = load_templates(scorecards.parents[1] / "templates", "ja")
    report = calibrate(store, scorecards, outcomes, DATES[0], DATES[-1], write_proposal=False,
                       read_inputs=_frames_like_the_history(frames), language="ja",
                       input_label=lambda n: input_label(templates, n),
                       category_label="エンゲージメントログ")  # fmt: skip
    by = {c.input: c for c in report.candidates}
    separations = [c.separation or 0 for c in report.candidates]
    assert separations == sorted(separations, reverse=True)  # ranked, best first
    # opens and the open rate (opens / 20 delivered) rank accounts identically: the first by
    # name is proposed, the other counts the same thing again
    assert by["email_open_rate_this_month"].verdict == "proposed"
    assert by["email_open_rate_this_month"].separation > 0.9
    assert (by["email_opens_this_month"].verdict, by["email_opens_this_month"].like) == (
        "redundant", "email_open_rate_this_month")  # fmt: skip
    assert by["video_views_this_month"].verdict == "weak"
    assert by["email_clicks_this_month"].verdict == "no_data"  # the source has no clicks
    assert "deliveries_this_month" not in by  # the scorecard reads it already
    # the deliveries measure gets edges where its churn rate falls (0 / 2 / 5 deliveries)
    (deliveries,) = [b for b in report.measure_bins if b.measure == "deliveries"]
    rates = [b.churn_rate for b in deliveries.bins]
    assert rates == sorted(rates, reverse=True) and deliveries.bins[-1].points == 25

    text = render_text(report, templates)
    title = "スコアカードに貼り付ける YAML"
    people, _, _ = text.partition(title)
    assert "メール開封率（当月）" in people and "追加を提案" in people
    # no code; figures are rounded (AUC and rank correlations to two decimals, as 1.00)
    assert not [c for c in raw_codes(people, "ja") if not re.fullmatch(r"\d\.\d\d", c)]
    assert "email_open_rate" not in people
    # the snippet as printed, pasted into the live scorecard, loads with the scorecard loader
    pasted = apply_snippet(yaml.safe_load(scorecards.read_text(encoding="utf-8")),
                           yaml.safe_load(printed_snippet(text, title)))  # fmt: skip
    path = scorecards.with_name("pasted.yaml")
    path.write_text(yaml.safe_dump(pasted, allow_unicode=True, sort_keys=False), "utf-8")
    card = load_scorecard(path)
    added = card.categories["engagement_logs"].measures["email_open_rate"]
    assert added.input == "email_open_rate_this_month" and added.labels == {
        "ja": "メール開封率（当月）"}  # fmt: skip
    english = render_text(report, load_templates(scorecards.parents[1] / "templates", "en"))
    assert "email open rate (scoring month)" in english and "higher renews" in english
    page = render_html(report, templates)
    assert page.count("<svg") == 4 and "スコアカードにない入力の AUC" in page
    assert "<pre>" in page and "input: email_open_rate_this_month" in page
