"""``sfsync score`` and ``sfsync explain``: offline scoring of canonical CSV files."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from sfsync.defaults import DEFAULT_TIMEZONE
from sfsync.errors import ConfigError, GuardError, InputDataError
from sfsync.scaffold import default_mappings_dir


def _project(ctx: click.Context):
    """The project (sfsync.yaml beside jobs/ and mappings/); defaults when there is none."""
    # lazy: keeps `sfsync --help` under 150 ms (SQLAlchemy, pydantic, structlog)
    from sfsync.config import load_project

    return load_project((ctx.find_root().obj or {}).get("config_path"))


def _mappings_dirs(ctx: click.Context) -> list[Path]:
    dirs = [_project(ctx).mappings_dir, Path.cwd() / "mappings"]
    dirs.append(default_mappings_dir())  # the defaults inside the package (sfsync init)
    return dirs


def resolve_scorecard(ctx: click.Context, name: str) -> Path:
    """A scorecard path, or a name looked up as ``mappings/scorecards/<name>.yaml``."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name)
    for directory in _mappings_dirs(ctx):
        candidate = directory / "scorecards" / f"{name}.yaml"
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"scorecard '{name}' not found in mappings/scorecards/ (give a name such as 'default' "
        "or a path to a YAML file)"
    )


def load_explanation_templates(ctx: click.Context, language: str | None):
    """The template set for explanations: ``--language``, else sfsync.yaml's ``language``,
    from the first ``mappings/templates/<language>`` found (project, working dir, checkout)."""
    # lazy: keeps `sfsync --help` under 150 ms (pydantic, PyYAML)
    from sfsync.templates import load_templates

    language = language or _project(ctx).settings.language
    for directory in _mappings_dirs(ctx):
        if (directory / "templates" / language).is_dir():
            return load_templates(directory / "templates", language)
    raise ConfigError(
        f"no templates for language {language!r} in mappings/templates/ "
        "(use --language ja or en, or add mappings/templates/<language>/)"
    )


def _parse_as_of(ctx: click.Context, value: str | None) -> date:
    if value is None:  # today in the configured time zone (sfsync.yaml / SFSYNC_TIMEZONE)
        return datetime.now(ZoneInfo(_project(ctx).settings.timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date YYYY-MM-DD", param_hint="--as-of"
        ) from None


def _input_options(func):
    path = click.Path(dir_okay=False)
    options = [
        click.option("--accounts", "accounts_path", required=True, type=path,
                     help="Accounts CSV (canonical columns, SPEC §3)."),
        click.option("--usage", "usage_path", required=True, type=path,
                     help="Usage CSV: one row per tenant and month (YYYY-MM)."),
        click.option("--activities", "activities_path", required=True, type=path,
                     help="Activities CSV: account_id, date, type, completed."),
        click.option("--benchmarks", "benchmarks_path", type=path, default=None,
                     help="Benchmark CSV industry,rate (default: the scorecard's own file)."),
        click.option("--previous", "previous_path", type=path, default=None,
                     help="Previous scores CSV (account_id, health_score) for trend/score_drop."),
        click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
                     help="Score as of this date (default: today in the configured time zone, "
                     f"{DEFAULT_TIMEZONE} unless sfsync.yaml says otherwise)."),
        click.option("--scorecard", "scorecard_name", default="default", show_default=True,
                     help="Scorecard name in mappings/scorecards/ or a YAML path."),
        click.option("--segment-scorecard", "segment_scorecards", multiple=True,
                     metavar="SEGMENT=NAME",
                     help="Score the accounts of a segment (S, A, B, C) with another scorecard, "
                     "e.g. S=seed000 (repeatable); the others use --scorecard, which also "
                     "decides the segments. The CSV then has a scorecard column."),
        click.option("--strict", is_flag=True,
                     help="Fail (exit 1) when any input row is bad or the input guard finds "
                     "the usage file broken, instead of warning."),
        click.option("--language", type=click.Choice(["ja", "en"]), default=None,
                     help="Language of the explanation (default: sfsync.yaml's language, ja)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _segment_cards(ctx, pairs: tuple[str, ...], default_name: str, default) -> dict:
    """``--segment-scorecard S=seed000`` options -> {segment: loaded scorecard}; the name of
    ``--scorecard`` gives its already loaded ``default``."""
    # lazy: keeps `sfsync --help` under 150 ms (pydantic, PyYAML)
    from sfsync.catalogue import SEGMENTS
    from sfsync.scoring import load_scorecard

    cards: dict = {}
    loaded: dict = {default_name: default}  # each scorecard once, however many segments use it
    for pair in pairs:
        segment, sep, name = pair.partition("=")
        segment, name = segment.strip(), name.strip()
        if not sep or segment not in SEGMENTS or not name:
            raise click.BadParameter(
                f"{pair!r}: use SEGMENT=NAME with a segment {', '.join(SEGMENTS)}, e.g. S=seed000",
                param_hint="--segment-scorecard",
            )
        if name not in loaded:
            loaded[name] = load_scorecard(resolve_scorecard(ctx, name))
        cards[segment] = loaded[name]
    return cards


def _score(ctx, accounts_path, usage_path, activities_path, benchmarks_path, previous_path,
           as_of, scorecard_name, segment_scorecards, strict, language):  # fmt: skip
    # lazy: keeps `sfsync --help` under 150 ms (pandas)
    import pandas as pd

    from sfsync.scoring import load_scorecard
    from sfsync.scoring.csv_inputs import (
        read_accounts,
        read_activities,
        read_benchmarks,
        read_previous,
        read_usage,
    )
    from sfsync.scoring.segmented import score_by_segment
    from sfsync.sources.engagement import derive_tutorial_completed

    card = load_scorecard(resolve_scorecard(ctx, scorecard_name))
    by_segment = _segment_cards(ctx, segment_scorecards, scorecard_name, card)
    templates = load_explanation_templates(ctx, language)
    as_of_date = _parse_as_of(ctx, as_of)
    by_source = {"accounts": {}, "usage": {}}
    for each in (card, *by_segment.values()):
        for name, spec in each.inputs.items():
            by_source[spec.source][name] = spec.kind
    tables = [
        read_accounts(accounts_path, by_source["accounts"]),
        read_usage(usage_path, by_source["usage"]),
        read_activities(activities_path),
    ]
    problems = [p for t in tables for p in t.problems]
    for problem in problems:
        click.echo(f"Warning: {problem} (row skipped)", err=True)
    if problems and strict:
        raise InputDataError(f"{len(problems)} bad input row(s); fix them or drop --strict")
    guard_offline_inputs(tables[0].frame, tables[1].frame, as_of_date, usage_path, strict)
    benchmarks = None
    if benchmarks_path:
        table = read_benchmarks(benchmarks_path)
        benchmarks = pd.DataFrame({"industry": list(table), "rate": list(table.values())})
    previous = None
    if previous_path:
        previous = read_previous(previous_path)
    # as `sfsync run` does (sfsync.sources.extract): tutorial_completed from its date
    usage = derive_tutorial_completed(tables[1].frame)
    result = score_by_segment(
        tables[0].frame,
        usage,
        tables[2].frame,
        as_of=as_of_date,
        scorecard=card,
        by_segment=by_segment,
        benchmarks=benchmarks,
        previous=previous,
        templates=templates,
    )
    return card, result, len(problems), list(by_segment.values())


def guard_offline_inputs(accounts, usage, as_of: date, usage_path: str, strict: bool) -> None:
    """The input guard of a scheduled run, on the files alone (no history offline): warn
    loudly when the usage file looks broken; with ``--strict`` stop (exit 1)."""
    # lazy: keeps `sfsync --help` under 150 ms (pandas, simple_salesforce, pydantic)
    from sfsync.calendar import add_months, month_text, scoring_month
    from sfsync.guards.inputs import check_inputs, input_figures
    from sfsync.jobs import InputGuard

    month = scoring_month(as_of)
    linked = accounts["tenant_id"].dropna() if "tenant_id" in accounts.columns else []
    figures = input_figures(
        f"usage ({usage_path})",
        len(usage),
        usage,
        linked_tenants=linked,
        scoring_month=month_text(month),
        previous_month=month_text(add_months(month, -1)),
    )
    guard = InputGuard()
    findings = check_inputs(
        figures,
        None,
        min_row_ratio=guard.min_row_ratio,
        min_coverage_ratio=guard.min_coverage_ratio,
        min_measure_ratio=guard.min_measure_ratio,
    )
    for finding in findings:
        click.secho(f"WARNING: input guard {finding.check}: {finding}", err=True, fg="red")
    if findings and strict:
        raise GuardError(
            f"the input guard found {len(findings)} problem(s) in the usage file; no scores "
            "were written",
            hint="fix the file, or drop --strict to score anyway",
        )
    if findings:
        click.secho(
            "WARNING: these scores rest on input that looks broken; a scheduled run would "
            "stop here (use --strict to fail).",
            err=True,
            fg="red",
        )


@click.command("score")
@_input_options
@click.option("--out", "out_path", default="-", show_default=True, type=click.Path(),
              help="Output CSV path ('-' for standard output).")  # fmt: skip
@click.pass_context
def score(ctx, out_path, **inputs):
    """Compute health scores offline from canonical CSV files and write a CSV.

    Output columns: account_id, health_score, health_band, <category>_points…, segment,
    lifecycle_phase, signals (';'-joined codes), then health_trend, churn_signals,
    upsell_signals, missing_measures, data_quality, explanation (in the configured language,
    Japanese by default; --language en for English). Bad input rows are reported with file
    and line and skipped; the other accounts are scored.

    \b
    Example:
      sfsync score --accounts accounts.csv --usage usage.csv --activities activities.csv \\
                   --as-of 2025-03-15 --out scores.csv
      sfsync score ... --scorecard seed000 --out seed000.csv
      sfsync score ... --segment-scorecard S=seed000 --segment-scorecard A=seed000
      sfsync score ... --language en --out scores_en.csv
    """
    # lazy: keeps `sfsync --help` under 150 ms (pandas, pydantic, PyYAML)
    from sfsync.scoring.csv_inputs import write_scores

    card, result, skipped, others = _score(ctx, **inputs)
    categories = list(dict.fromkeys(c for each in (card, *others) for c in each.categories))
    columns = _columns(categories)
    if "scorecard" in result.scores.columns:  # scorecards per segment: which one scored
        columns.insert(columns.index("health_band") + 1, "scorecard")
    if out_path == "-":
        click.echo(result.scores[columns].to_csv(index=False), nl=False)
    else:
        write_scores(result.scores, categories, out_path, columns=columns)
    bands = result.scores["health_band"].value_counts(dropna=False)
    summary = ", ".join(f"{band if isinstance(band, str) else 'no score'} {count}"
                        for band, count in bands.items())  # fmt: skip
    click.echo(
        f"Scored {len(result.scores)} account(s) as of {result.as_of} "
        f"(scoring month {result.scoring_month}; {summary}); {skipped} input row(s) skipped.",
        err=True,
    )


def _columns(categories):
    # lazy: keeps `sfsync --help` under 150 ms (pandas, pydantic, PyYAML)
    from sfsync.scoring.csv_inputs import output_columns

    return output_columns(categories)


@click.command("explain")
@_input_options
@click.option("--account", "account_id", required=True, help="The account_id to explain.")
@click.pass_context
def explain(ctx, account_id, **inputs):
    """Explain one account's score: each measure's input, bin, points and missing data.

    Takes the same inputs as `sfsync score` and prints a readable breakdown in the configured
    language (sfsync.yaml `language`, Japanese by default; --language en for English).

    \b
    Example:
      sfsync explain --account 001000000000001AAA --accounts accounts.csv \\
                     --usage usage.csv --activities activities.csv --as-of 2025-03-15
      sfsync explain --account 001000000000001AAA ... --language en
    """
    # lazy: keeps `sfsync --help` under 150 ms (pandas, pydantic, PyYAML)
    from sfsync.scoring.explain import render_account

    card, result, _, _ = _score(ctx, **inputs)
    matches = result.scores.index[result.scores["account_id"] == account_id.strip()]
    if len(matches) == 0:
        raise InputDataError(
            f"account {account_id} is not among the scored accounts of {inputs['accounts_path']}"
        )
    row = result.scores.loc[matches[0]]
    breakdown = result.explanations
    breakdown = breakdown[breakdown["account_id"] == row["account_id"]]
    card_of = getattr(result, "card_of", None)  # scorecards per segment: the account's own
    if card_of is not None:
        card = card_of(row["account_id"])
    click.echo(render_account(row, breakdown, card, result.wording))


commands = [score, explain]
