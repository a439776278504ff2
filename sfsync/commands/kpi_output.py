"""Printing a KPI outcome on the terminal: shared by ``sfsync kpi`` and ``sfsync run
monthly-kpi`` (:mod:`sfsync.commands.run`), so that neither command imports the other."""

from __future__ import annotations

import unicodedata

import click


def print_kpi(outcome) -> None:
    """Print a ``KpiOutcome``: the KPI table against the targets, capacity, missing inputs.

    Every text comes from the ``kpi_report`` templates of the outcome's language."""
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.automation.kpi_report import counts_text, kpi_text, missing_text, value_text
    from sfsync.automation.kpi_sections import funnel_lines
    from sfsync.notify.messages import MessageBuilder

    t = outcome.templates

    def cli(field: str, **values) -> str:
        return kpi_text(t, "cli", field, **values)

    labels = MessageBuilder(t)
    report = outcome.report
    rows = [
        (
            labels.kpi_label(k.key),
            value_text(t, k),
            k.target_text,
            cli(k.status),
            counts_text(t, k),
        )
        for k in report.kpis
    ]
    header = tuple(cli(c) for c in ("kpi", "value", "target", "status", "counts"))

    def width(text: str) -> int:  # East Asian characters take two columns in a terminal

        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(4)]
    click.echo(cli("heading", month=report.month))
    for r in [header, *rows]:
        cells = [r[i] + " " * (widths[i] - width(r[i])) for i in range(4)]
        click.echo("  ".join(cells) + "  " + r[4])
    weekly = getattr(report, "weekly", None)
    if weekly is not None and not weekly.empty:
        click.echo("\n" + kpi_text(t, "weekly", "title", month=report.month))
        names = ("week", "accounts", "average_score", "red_share")
        click.echo("  " + "  ".join(kpi_text(t, "weekly", c) for c in names))
        for w in weekly.itertuples(index=False):
            click.echo(
                f"  {w.week_start:%m/%d}–{w.week_end:%m/%d}  {w.accounts:,}  "
                f"{w.average_score:.1f}  {w.red_share * 100:.1f}%"
            )
    funnel = getattr(outcome, "funnel", None)
    if funnel is not None and not funnel.empty:
        click.echo("\n" + kpi_text(t, "funnel", "title", first_month=funnel.months[0],
                                    last_month=funnel.months[-1]))  # fmt: skip
        for line in funnel_lines(t, funnel):
            click.echo(f"  {line}")
    met = sum(k.status == "met" for k in report.kpis)
    measured = sum(k.status != "na" for k in report.kpis)
    click.echo("\n" + cli("summary", met=met, measured=measured))
    capacity = outcome.capacity
    if capacity is not None and "over_load" in capacity:  # the personal load above 1.0 too
        capacity = capacity.assign(over_cap=capacity["over_cap"] | capacity["over_load"])
    if capacity is not None and capacity["over_cap"].any():
        over = capacity[capacity["over_cap"]]
        click.echo(cli("over_capacity", owners=", ".join(map(str, over["owner_name"]))))
    if outcome.inputs.missing:
        click.echo(cli("missing"))
        for item in outcome.inputs.missing:
            click.echo(f"  - {missing_text(t, item)}")
    if outcome.html_path:
        click.echo(cli("report_written", path=outcome.html_path))
    if outcome.slack is not None:
        s = outcome.slack
        state = (
            "slack_posted"
            if s.delivery.sent
            else "slack_already_posted"
            if not s.enqueued and not s.delivery.pending
            else "slack_pending"
        )
        click.echo(cli(state))
