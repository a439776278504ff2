"""``sfsync demo``: the nightly job against the local practice org, explained for CS operations."""

from __future__ import annotations

import click

from sfsync.commands.run import execute

INTRO = """\
sfsync demo — the nightly job on a local practice org (no real Salesforce needed)

It reads accounts, Tasks and Events from the practice Salesforce org and last 13 months of
product usage from the practice Metabase, computes a health score (0-100), band, segment,
lifecycle phase and churn/upsell signals for each account, writes them onto the Account
records, creates a Task for each new churn risk (due in 48 hours, owned by the account
owner), creates the playbook's scheduled follow-up Tasks on their dates (onboarding steps,
quarterly QBRs, renewal reminders, overdue touches, owner hand-overs) and posts a Slack alert
for each new risk plus a digest of the run.
"""

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
        f"scheduled follow-ups); {s.signal_alerts:,} risks alerted in Slack, using "
        f"{s.total_api_calls:,} API calls."
    )
    click.echo("")
    click.echo(OUTRO)


commands = [demo]
