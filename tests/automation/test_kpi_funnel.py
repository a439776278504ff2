"""The tech-touch funnel of the KPI report (issue 13 item 7) on a small book computed by hand:
mails delivered → opened → clicked and the tutorial new → started → completed, with drop-off
rates and the accounts that fell out; then its HTML section."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from sfsync.automation.kpi import compute_kpis
from sfsync.automation.kpi_funnel import funnel_report
from sfsync.automation.kpi_report import render_kpi_report
from sfsync.automation.kpi_sections import FELL_OUT_MAX, funnel_section
from sfsync.automation.playbook import load_playbook
from sfsync.templates import load_templates
from tests.test_no_codes import raw_codes

NaN = float("nan")
MONTHS = ["2025-02", "2025-03"]
URL = "https://org.example.my.salesforce.com"

ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6", "a7"],
        "name": ["Alpha", "Bravo", "Charlie", "Delta <&>", "Echo", "Foxtrot", "Golf"],
        "tenant_id": ["t1", "t2", "t3", "t4", "t5", None, "t7"],
        "contract_start": pd.to_datetime(
            [
                "2023-01-01",
                "2025-01-10",
                "2025-02-01",
                "2025-03-03",
                "2025-01-20",
                "2025-03-01",
                "2025-02-10",
            ]
        ),  # fmt: skip
        "churned_on": pd.to_datetime([None, None, None, None, "2025-03-10", None, None]),
    }
)


def _usage(rows: list[tuple]) -> pd.DataFrame:
    columns = ["tenant_id", "month", "email_delivered", "email_opens", "email_clicks",
               "video_views", "document_views", "tutorial_completed_at"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame["tutorial_completed_at"] = pd.to_datetime(frame["tutorial_completed_at"])
    return frame


USAGE = _usage(
    [
        # January: only Bravo's onboarding video
        ("t2", "2025-01", 3, 1, 0, 3, 0, "2025-02-05"),
        # February
        ("t1", "2025-02", 12, 6, 2, 5, 1, None),
        ("t2", "2025-02", 9, 1, 0, 0, 0, "2025-02-05"),
        ("t3", "2025-02", 0, 0, 0, 0, 0, None),
        ("t5", "2025-02", 4, 0, 0, 0, 0, None),
        ("t7", "2025-02", 2, 0, 0, 1, 0, "2025-04-02"),
        # March: Echo churned on 03-10 (out of the book); Golf's opens and clicks are empty
        ("t1", "2025-03", 10, 4, 1, 2, 0, None),
        ("t2", "2025-03", 8, 0, 0, 0, 0, "2025-02-05"),
        ("t3", "2025-03", 6, 3, 0, 0, 2, None),
        ("t4", "2025-03", 0, 0, 0, 0, 0, None),
        ("t5", "2025-03", 5, 5, 5, 9, 9, None),
        ("t7", "2025-03", 4, NaN, NaN, 0, 0, "2025-04-02"),
    ]
)


def _report(usage=USAGE, months=MONTHS, accounts=ACCOUNTS):
    return funnel_report(months, accounts=accounts, usage=usage, onboarding_months=3)


def _names(stage) -> list[str]:
    return [f.name for f in stage.fell_out]


def test_mail_funnel_counts_mails_and_accounts_with_their_drop_offs():
    march = _report().mail[-1]
    delivered, opened, clicked = march.stages
    # delivered: Alpha 10, Bravo 8, Charlie 6, Golf 4 (Delta had none; Echo churned)
    assert (delivered.accounts, delivered.mails) == (4, 28)
    assert delivered.mail_drop is None and delivered.fell_out == ()
    # opened: Alpha 4, Charlie 3; Bravo opened nothing, Golf's empty cells count as none
    assert (opened.accounts, opened.mails) == (2, 7)
    assert opened.mail_drop == pytest.approx(1 - 7 / 28) and opened.account_drop == 0.5
    assert _names(opened) == ["Bravo", "Golf"]
    # clicked: Alpha 1; Charlie opened but never clicked
    assert (clicked.accounts, clicked.mails) == (1, 1)
    assert clicked.mail_drop == pytest.approx(1 - 1 / 7) and clicked.account_drop == 0.5
    assert _names(clicked) == ["Charlie"]


def test_tutorial_funnel_of_the_new_accounts_at_the_month_end():
    march = _report().tutorial[-1]
    new, started, completed = march.stages
    # new in Jan-Mar and in the book: Bravo, Charlie, Delta, Golf (Echo churned)
    assert new.accounts == 4 and new.account_drop is None
    # started: Bravo (January video), Charlie (March document), Golf (February video)
    assert started.accounts == 3 and started.account_drop == 0.25
    assert _names(started) == ["Delta <&>"]
    # completed by 03-31: Bravo; Golf completes on 04-02
    assert completed.accounts == 1 and completed.account_drop == pytest.approx(2 / 3)
    assert _names(completed) == ["Charlie", "Golf"]


def test_each_month_is_its_own_funnel():
    february = _report()
    mail, tutorial = february.mail[0], february.tutorial[0]
    assert [s.accounts for s in mail.stages] == [4, 2, 1]  # Alpha, Bravo, Echo, Golf → …
    assert [s.mails for s in mail.stages] == [27, 7, 2]
    assert _names(mail.stages[1]) == ["Echo", "Golf"]
    # new in Dec-Feb: Bravo, Charlie, Echo, Golf; Charlie and Echo viewed nothing yet
    assert [s.accounts for s in tutorial.stages] == [4, 2, 1]
    assert _names(tutorial.stages[1]) == ["Charlie", "Echo"]
    assert february.latest("mail").month == "2025-03"


def test_months_without_figures_say_why():
    report = _report(months=["2024-12", "2025-03"])
    assert (report.mail[0].reason, report.mail[0].reason_params) == (
        "no_usage_rows",
        {"month": "2024-12"},
    )
    assert report.tutorial[0].reason == "no_usage_rows"
    # the usage begins after a new account's contract-start month: its views are unknown
    short = _report(usage=USAGE[USAGE["month"] != "2025-01"])
    assert (short.tutorial[-1].reason, short.tutorial[-1].reason_params) == (
        "usage_too_short",
        {"month": "2025-03", "from_month": "2025-01"},
    )
    assert short.mail[-1].measured  # the mails of March are known all the same
    no_mail = _report(usage=USAGE.drop(columns=["email_delivered"]))
    assert no_mail.mail[-1].reason == "no_mail_data" and no_mail.tutorial[-1].measured
    old = ACCOUNTS.assign(contract_start=pd.Timestamp("2020-01-01"))
    assert _report(accounts=old).tutorial[-1].reason == "no_new_accounts"
    assert funnel_report(MONTHS, accounts=ACCOUNTS, usage=None) is None
    nothing = _report(months=["2024-12"])
    assert nothing.empty and nothing.latest("mail") is None and nothing.latest("tutorial") is None


def test_without_completion_dates_the_monthly_flag_counts():
    flags = USAGE.drop(columns=["tutorial_completed_at"]).assign(
        tutorial_completed=USAGE["tenant_id"].isin(["t2", "t7"])
    )
    new, started, completed = _report(usage=flags).tutorial[-1].stages
    assert completed.accounts == 2 and _names(completed) == ["Charlie"]


PLAYBOOK = load_playbook("mappings/playbook.yaml")


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_section_links_the_accounts_caps_the_lists_and_shows_no_codes(language):
    templates = load_templates("mappings/templates", language)
    html = funnel_section(_report(), templates, onboarding_months=3, instance_url=URL)
    text = re.sub(r"<[^>]+>", " ", html)
    assert not raw_codes(text, language), text
    assert f'<a href="{URL}/lightning/r/Account/a2/view">Bravo</a>' in html
    assert "Delta &lt;&amp;&gt;" in html
    if language == "ja":
        assert "テックタッチのファネル（2025-02〜2025-03）" in html
        assert (
            "メールのファネル（2025-03）" in html and "チュートリアルのファネル（2025-03）" in html
        )
        assert "28 → 7 → 1" in html and "75.0% / 85.7%" in html  # March's mails, drop-offs
        assert "4 → 3 → 1" in html and "25.0% / 66.7%" in html  # March's tutorial
        assert "メールが届いたが開封しなかった顧客（2 社）" in html
        assert "開始したが完了していない顧客（2 社）" in html
    else:
        assert "Tech-touch funnel (2025-02 to 2025-03)" in html
    # many accounts fell out: the first ones by name, the rest counted
    many = pd.DataFrame(
        {
            "account_id": [f"x{i:02d}" for i in range(FELL_OUT_MAX + 5)],
            "name": [f"Co {i:02d}" for i in range(FELL_OUT_MAX + 5)],
            "tenant_id": [f"tx{i}" for i in range(FELL_OUT_MAX + 5)],
        }
    )
    usage = _usage([(f"tx{i}", "2025-03", 3, 0, 0, 0, 0, None) for i in range(FELL_OUT_MAX + 5)])
    big = funnel_section(
        funnel_report(["2025-03"], accounts=many, usage=usage), templates, onboarding_months=3
    )
    assert big.count("Co ") == FELL_OUT_MAX and "<a " not in big  # no org: names unlinked
    assert ("ほか 5 社" if language == "ja" else "and 5 more") in big


def test_the_report_shows_the_funnel_before_the_definitions():
    report = compute_kpis("2025-03", playbook=PLAYBOOK, snapshots=None, accounts=ACCOUNTS)
    html = render_kpi_report(
        report,
        templates=load_templates("mappings/templates", "ja"),
        playbook=PLAYBOOK,
        trend=pd.DataFrame(columns=["month", "key", "value", "status"]),
        bands=pd.DataFrame(),
        funnel=_report(),
        instance_url=URL,
        generated_at=datetime(2025, 4, 1, tzinfo=UTC),
    )
    assert (
        html.index("KPI と目標") < html.index("テックタッチのファネル") < html.index("指標の定義")
    )
    assert f'<a href="{URL}/lightning/r/Account/a4/view">Delta &lt;&amp;&gt;</a>' in html


def test_the_terminal_lines_show_the_latest_funnels_with_their_drop_offs():
    from sfsync.automation.kpi_sections import funnel_lines

    lines = funnel_lines(load_templates("mappings/templates", "en"), _report())
    mail, tutorial = lines
    # March: 4 accounts got mail, 2 opened (half dropped), 1 clicked (half of those dropped)
    assert mail.startswith("Mail funnel (2025-03): ")
    assert re.search(r" 4 → \D+ 2 \(\D+ 50\.0%\) → \D+ 1 \(\D+ 50\.0%\)$", mail), mail
    assert tutorial.startswith("Tutorial funnel (2025-03): ")
    assert "within 3 months) 4 → " in tutorial  # the new-account window is named
    assert re.search(r" 3 \(\D+ 25\.0%\) → \D+ 1 \(\D+ 66\.7%\)$", tutorial), tutorial
    assert not raw_codes(" ".join(lines), "en")
