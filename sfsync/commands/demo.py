"""``sfsync demo``: the nightly job against the local practice org, explained for CS operations."""

from __future__ import annotations

import click

from sfsync.commands.run import execute
from sfsync.report import RunSummary

INTRO = """\
sfsync demo — the nightly job on a local practice org (no real Salesforce needed)

It reads accounts, Tasks and Events from the practice Salesforce org and last 13 months of
product usage from the practice Metabase, computes a health score (0-100), band, segment,
lifecycle phase and churn/upsell signals for each account, writes them onto the Account
records, creates a Task for each new churn risk (due in 48 hours, owned by the account
owner) and each upsell opportunity, creates the playbook's scheduled follow-up Tasks
(onboarding steps, quarterly QBRs, renewal reminders, overdue touches, owner hand-overs) —
never more than the daily limit per CSM, never already overdue — writes the weekly score
history, adds customers' contacts to the tech-touch Campaigns a marketing-automation tool mails
from (step mails, tutorial, monthly tips, release notices, renewal reminders), and posts one
Slack digest per CSM (their new risks and Tasks, and today's top accounts by CS priority with
the reason for each) plus a digest of the run for the managers.
"""

#: What the deployed workspace (deploy/salesforce) shows; the labels are the metadata's own
#: (tests/salesforce_metadata/test_workspace_refs.py keeps them in step).
WORKSPACE_LABELS = {
    "record_page": "sfsync 取引先レコードページ",
    "history_list": "ヘルススコア履歴",
    "my_accounts": "自分の警戒・危険の取引先",
    "no_qbr": "今四半期QBR未実施のS・A取引先",
    "tasks_48h": "解約予兆タスク（48時間以内・未完了）",
    "dashboard": "sfsync マネージャー ダッシュボード",
}

OUTRO = """\
What to look at next:
  - run it again: nothing changes the second time (no duplicate Tasks, no repeated alerts)
  - sfsync run nightly --sandbox --dry-run   shows every write a run would make
  - sfsync sandbox serve                     keeps the practice org running to explore it
  - jobs/nightly.yaml, mappings/             what runs, and how fields and scores are mapped
"""


@click.command("demo")
@click.option("--as-of", "as_of", metavar="DATE", help="Pretend today is DATE (YYYY-MM-DD).")
@click.option(
    "--accounts",
    default=150,
    show_default=True,
    help="Accounts in the practice org (used when it is first created).",
)
@click.pass_context
def demo(ctx: click.Context, as_of: str | None, accounts: int) -> None:
    """Run the nightly job against the built-in practice org and explain the result.

    Nothing leaves your machine: Salesforce, Metabase and Slack are local stand-ins that
    speak the real APIs, with sample customers (state in .sfsync/sandbox/).

    \b
    Example:
      sfsync demo
      sfsync demo --as-of 2025-03-15
    """
    click.echo(INTRO)
    outcome = execute(
        ctx,
        "nightly",
        as_of,
        dry_run=False,
        sandbox=True,
        plan_out=None,
        sandbox_accounts=accounts,
    )
    s = outcome.summary
    click.echo("")
    click.echo(
        f"In plain words: {s.scored:,} customers scored; "
        f"{s.bands.get('red', 0):,} are in the red band and "
        f"{s.churn_signals_new:,} new churn risks and "
        f"{s.signals_new - s.churn_signals_new:,} upsell opportunities were found. "
        f"{s.fields_written:,} Account records were updated and {s.tasks_created:,} Tasks "
        f"created ({s.signal_tasks_created:,} for new risks, {s.upsell_tasks_created:,} upsell "
        f"proposals, {s.followup_tasks_created:,} "
        f"scheduled follow-ups); {s.campaign_members_added:,} contacts joined tech-touch "
        f"Campaigns; {s.signal_alerts:,} risks alerted in Slack, using "
        f"{s.total_api_calls:,} API calls."
    )
    click.echo("")
    click.echo("\n".join(in_salesforce(s)))
    if s.worklists:
        click.echo("")
        click.echo(
            f"In Slack: {s.worklists:,} CSMs got their digest with today's top accounts, "
            "ranked by CS対応優先順位 (band, churn signals, ARR, renewal) with the reason for "
            "each (with touch_model.worklist_in_digest: always, the first run of a day sends "
            "it to every CSM, new risks or not)."
        )
    click.echo("")
    click.echo(OUTRO)


def in_salesforce(s: RunSummary) -> list[str]:
    """What a CSM will find in Salesforce after the run ``s``, in the workspace's own words."""
    w = WORKSPACE_LABELS
    risky = s.bands.get("red", 0) + s.bands.get("orange", 0)
    lines = [
        "What a CSM finds in Salesforce now:",
        f"  - on each Account ({w['record_page']}): the ヘルススコア section — score, band, "
        "breakdown, trend and direction, segment, phase, signals, and an explanation that "
        "ends with the next action for the band",
        f"  - list view 「{w['my_accounts']}」: {risky:,} accounts in the orange or red band "
        "across all owners",
        f"  - list view 「{w['tasks_48h']}」: "
        + (
            f"the {s.signal_tasks_created:,} new churn-risk Tasks, each due within 48 hours"
            if s.signal_tasks_created
            else "no new churn-risk Task this run (the open ones stay listed until done)"
        ),
    ]
    if s.upsell_tasks_created:
        lines.append(
            f"  - {s.upsell_tasks_created:,} upsell proposal Tasks (Upsell_Signals__c on the "
            "Account says why)"
        )
    if s.followup_tasks_created:
        lines.append(
            f"  - {s.followup_tasks_created:,} scheduled follow-ups (onboarding, QBR, renewal, "
            f"touches); list view 「{w['no_qbr']}」 for the QBRs still to hold"
        )
    if s.tasks_deferred:
        lines.append(
            f"  - {s.tasks_deferred:,} more Tasks wait for later nights: each CSM gets at most "
            "the daily limit of new Tasks (mappings/playbook.yaml task_limit)"
        )
    if s.campaign_members_added:
        lines.append(
            f"  - marketing: {s.campaign_members_added:,} contacts joined the tech-touch Campaigns "
            "(step mails, tutorial, monthly tips, release notices, renewal reminders) that "
            "Account Engagement, Marketo or HubSpot mail from (docs/MARKETING_AUTOMATION.md)"
        )
    if s.history_written:
        lines.append(
            f"  - related list 「{w['history_list']}」: {s.history_written:,} weekly score "
            f"snapshots ({s.history_period})"
        )
    lines.append(f"  - managers: the dashboard 「{w['dashboard']}」 and the KPI report")
    return lines


commands = [demo]
