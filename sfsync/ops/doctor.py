"""``sfsync doctor``: is everything a run needs reachable and configured? One table of checks.

Each check returns :class:`Check` rows (name, OK/FAIL/WARN/SKIP, detail, fix). A check that
cannot run because an earlier one failed (no Salesforce session, say) is SKIP with the reason.
Details and fixes never contain secrets: error texts pass through ``sfsync.log.redact_text``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
import yaml
from slack_sdk.errors import SlackApiError

from sfsync.errors import ConfigError, SfsyncError
from sfsync.jobs import MetabaseSource, load_job, resolve_parameters
from sfsync.log import redact_text
from sfsync.notify.problems import classify
from sfsync.notify.slack import make_client
from sfsync.ops.history import HISTORY_MAPPING, history_org_problems, load_history_mapping
from sfsync.plan import TASK_KEY_FIELD
from sfsync.salesforce.client import connect
from sfsync.salesforce.mapping import load_mapping, validate_mapping_against_org
from sfsync.salesforce.tasks import task_key_problems
from sfsync.sources.columns import load_column_mapping
from sfsync.sources.extract import DEFAULT_COLUMNS
from sfsync.sources.metabase import MetabaseClient
from sfsync.state.alerts import outbox_backlog
from sfsync.state.db import MIGRATIONS, open_store
from sfsync.state.run_figures import last_good_figures

log = structlog.get_logger(__name__)

OK, FAIL, WARN, SKIP = "OK", "FAIL", "WARN", "SKIP"
DEPLOY_FIX = "deploy the metadata in deploy/salesforce (README: Salesforce CLI) or fix {where}"


@dataclass(frozen=True)
class Check:
    """One row of the doctor table."""

    name: str
    status: str
    detail: str = ""
    fix: str = ""


def _error_text(exc: BaseException) -> str:
    return redact_text(str(exc) if isinstance(exc, SfsyncError) else f"{type(exc).__name__}: {exc}")


@dataclass
class DoctorContext:
    """What the checks share: the project and the clients built so far."""

    project: Any
    jobs: dict[str, Any]
    salesforce: Any = None
    metabase: Any = None


def load_jobs(project: Any) -> tuple[dict[str, Any], list[Check]]:

    jobs, rows = {}, []
    for path in sorted(project.jobs_dir.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            rows.append(Check(f"job {path.stem}", FAIL, _error_text(exc), "fix the YAML"))
            continue
        if (data.get("compute") or {}).get("kind") == "kpi":
            continue  # the monthly KPI job (sfsync kpi) reads the state store only
        try:
            jobs[path.stem] = load_job(project.jobs_dir, path.stem)
        except ConfigError as exc:
            rows.append(Check(f"job {path.stem}", FAIL, _error_text(exc), "fix the job file"))
    return jobs, rows


# -- state store -----------------------------------------------------------------------------
def check_state_store(ctx: DoctorContext) -> list[Check]:
    url = ctx.project.settings.state_url
    try:
        store = open_store(url)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a row
        return [Check("state store", FAIL, _error_text(exc),
                      "check SFSYNC_STATE_URL / state_url and that the database server runs")]  # fmt: skip
    try:
        version = store.schema_version()
        latest = max(m.version for m in MIGRATIONS)
        detail = f"{store.dialect}, schema version {version}"
        if version < latest:
            return [Check("state store", FAIL, detail, "run any sfsync command to migrate it")]
        return [Check("state store", OK, f"{detail} (migrated)")]
    finally:
        store.dispose()


def check_tenant_links(ctx: DoctorContext) -> list[Check]:
    """From each job's last finished run: the largest usage tenants no account has (normal:
    trials, internal, not yet linked) and accounts whose tenant had no usage row at all."""
    jobs = [name for name, job in ctx.jobs.items() if "usage" in job.sources]
    if not jobs:
        return []
    try:
        store = open_store(ctx.project.settings.state_url)
    except Exception:  # noqa: BLE001 - the state store row already says why
        return []
    rows = []
    try:
        for name in jobs:
            last = last_good_figures(store, name, "input:usage")
            label = f"usage tenants ({name})"
            if last is None:
                rows.append(Check(label, SKIP, "no finished run yet"))
                continue
            rows.extend(_tenant_rows(label, last))
    finally:
        store.dispose()
    return rows


def _tenant_rows(label: str, last: Any) -> list[Check]:
    figures, when = last.figures, f"run {last.run_id} as of {last.as_of.isoformat()}"
    unknown = figures.get("unknown_tenants") or 0
    if unknown:
        largest = ", ".join(f"{t} ({n:,} rows)" for t, n in figures.get("largest_unknown", []))
        detail = (f"{unknown:,} tenants without an account left out ({figures.get('unknown_rows', 0):,}"
                  f" rows; {when}); largest: {largest}")  # fmt: skip
        rows = [Check(label, OK, detail)]
    else:
        rows = [Check(label, OK, f"every usage tenant has an account ({when})")]
    mislinked = figures.get("mislinked") or []
    if mislinked:
        names = ", ".join(f"{a['name'] or a['account_id']} ({a['tenant_id']})" for a in mislinked)
        rows.append(Check(f"{label}: accounts without usage", WARN,
                          f"{len(mislinked):,} linked account(s) matched no usage row: {names}",
                          "check Account.Tenant_Id__c of these accounts"))  # fmt: skip
    return rows


# -- Salesforce ------------------------------------------------------------------------------
def check_salesforce_auth(ctx: DoctorContext) -> list[Check]:
    settings = ctx.project.settings
    if not getattr(settings.salesforce, "instance_url", None) and not getattr(
        settings.salesforce, "username", None
    ):
        return [Check("Salesforce authentication", FAIL, "no Salesforce settings",
                      "set SFSYNC_SF_INSTANCE_URL and a credential (SPEC §9)")]  # fmt: skip
    try:
        client = connect(settings.salesforce, timezone=settings.timezone)
        client.request("GET", "sobjects/")  # proves the session works
    except Exception as exc:  # noqa: BLE001
        return [Check("Salesforce authentication", FAIL, _error_text(exc),
                      "check the SFSYNC_SF_* credentials and that the user may use the API")]  # fmt: skip
    ctx.salesforce = client
    flow = getattr(client, "auth_flow", None) or "session"
    return [Check("Salesforce authentication", OK, f"{flow} on {client.instance_url}")]


def check_api_version(ctx: DoctorContext) -> list[Check]:
    if ctx.salesforce is None:
        return [Check("Salesforce API version", SKIP, "no Salesforce session")]
    wanted = str(ctx.project.settings.salesforce.api_version)
    try:
        versions = ctx.salesforce.request("GET", "/services/data/").json()
    except Exception as exc:  # noqa: BLE001
        return [Check("Salesforce API version", FAIL, _error_text(exc), "check the instance URL")]
    available = [str(v.get("version")) for v in versions]
    if wanted in available:
        return [Check("Salesforce API version", OK, f"{wanted} available (newest {available[-1]})")]
    return [Check("Salesforce API version", FAIL,
                  f"{wanted} is not offered by the org (it offers {', '.join(available[-3:])})",
                  f"set salesforce.api_version / SFSYNC_SF_API_VERSION to {available[-1]}")]  # fmt: skip


def _account_mappings(ctx: DoctorContext) -> dict[str, list[str]]:
    """Account field mapping name -> jobs that write it."""
    names: dict[str, list[str]] = {}
    for job_name, job in ctx.jobs.items():
        if job.write.account_fields:
            names.setdefault(job.write.account_fields, []).append(job_name)
    return names


def check_mapped_fields(ctx: DoctorContext) -> list[Check]:
    """Every mapped field exists, is updateable and has a compatible type (sync engine check)."""
    if ctx.salesforce is None:
        return [Check("mapped fields", SKIP, "no Salesforce session")]
    rows: list[Check] = []
    for name, jobs in sorted(_account_mappings(ctx).items()):
        path = ctx.project.mappings_dir / f"{name}.yaml"
        label = f"mapping {name}.yaml"
        try:
            mapping = load_mapping(path, columns=_columns_named_in(path))
            problems = validate_mapping_against_org(
                mapping, ctx.salesforce.describe(mapping.sobject)
            )
        except Exception as exc:  # noqa: BLE001
            rows.append(Check(label, FAIL, _error_text(exc), f"fix {path}"))
            continue
        rows.extend(_problem_rows(label, problems))
        if not problems:
            rows.append(Check(label, OK, f"{len(mapping.fields)} {mapping.sobject} fields "
                              f"exist, updateable, compatible (jobs: {', '.join(jobs)})"))  # fmt: skip
    rows.extend(_history_rows(ctx))
    return rows


def _columns_named_in(path: Any) -> list[str]:
    """The result columns a mapping names (whether the job produces them is `sfsync validate`'s
    offline check; doctor checks the org side)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    match = (data.get("match") or {}).get("column", "account_id")
    return [*(data.get("fields") or {}), match]


def _problem_rows(label: str, problems: Iterable[Any]) -> list[Check]:
    rows = []
    for p in problems:
        where = f"{p.path} in {p.file}" if p.path else p.file
        rows.append(Check(label, FAIL, p.message, DEPLOY_FIX.format(where=where)))
    return rows


def _history_rows(ctx: DoctorContext) -> list[Check]:
    path = ctx.project.mappings_dir / f"{HISTORY_MAPPING}.yaml"
    label = f"mapping {HISTORY_MAPPING}.yaml"
    if not path.exists():
        return [Check(label, SKIP, "no score history mapping (sfsync backfill needs one)")]
    try:
        mapping = load_history_mapping(ctx.project.mappings_dir)
        describe = ctx.salesforce.describe(mapping.sobject)
    except Exception as exc:  # noqa: BLE001
        return [Check(label, FAIL, _error_text(exc),
                      DEPLOY_FIX.format(where=str(path)))]  # fmt: skip
    problems = history_org_problems(mapping, describe)
    if problems:
        return _problem_rows(label, problems)
    return [Check(label, OK, f"{mapping.sobject}: {len(mapping.fields) + 1} fields, "
                  f"{mapping.match.field} external ID + unique")]  # fmt: skip


def check_task_key(ctx: DoctorContext) -> list[Check]:
    name = f"Task.{TASK_KEY_FIELD}"
    if ctx.salesforce is None:
        return [Check(name, SKIP, "no Salesforce session")]
    try:
        problems = task_key_problems(ctx.salesforce.describe("Task"))
    except Exception as exc:  # noqa: BLE001
        return [Check(name, FAIL, _error_text(exc), DEPLOY_FIX.format(where="the org"))]
    if problems:
        return [
            Check(name, FAIL, p.message,
                  "mark Sync_Key__c on Activity as External ID and Unique "
                  "(deploy/salesforce/.../Activity/fields/Sync_Key__c.field-meta.xml)")
            for p in problems
        ]  # fmt: skip
    return [Check(name, OK, "External ID and Unique")]


def check_api_requests(ctx: DoctorContext) -> list[Check]:
    name = "Salesforce daily API requests"
    if ctx.salesforce is None:
        return [Check(name, SKIP, "no Salesforce session")]
    reserve = ctx.project.settings.salesforce.api_reserve
    try:
        daily = ctx.salesforce.limits().get("DailyApiRequests") or {}
    except Exception as exc:  # noqa: BLE001
        return [Check(name, FAIL, _error_text(exc), "check that the user may read /limits")]
    remaining, maximum = daily.get("Remaining"), daily.get("Max")
    if remaining is None:
        return [Check(name, WARN, "the org did not report DailyApiRequests")]
    detail = f"{remaining:,} of {maximum:,} remain; reserve {reserve:,}"
    if remaining < reserve:
        return [Check(name, FAIL, detail, "wait for the 24-hour window, or lower "
                      "salesforce.api_reserve in sfsync.yaml")]  # fmt: skip
    if remaining < 2 * reserve:
        return [Check(name, WARN, detail, "a run may stop at the reserve soon")]
    return [Check(name, OK, detail)]


# -- Metabase --------------------------------------------------------------------------------
def _metabase_sources(ctx: DoctorContext) -> list[tuple[str, str, Any]]:
    return [
        (job_name, role, source)
        for job_name, job in ctx.jobs.items()
        for role, source in job.sources.items()
        if isinstance(source, MetabaseSource)
    ]


def check_metabase(ctx: DoctorContext) -> list[Check]:
    sources = _metabase_sources(ctx)
    settings = ctx.project.settings.metabase
    if not sources:
        return [Check("Metabase authentication", SKIP, "no job reads Metabase")]
    if not getattr(settings, "url", None):
        return [Check("Metabase authentication", FAIL, "no Metabase URL configured",
                      "set SFSYNC_METABASE_URL and SFSYNC_METABASE_API_KEY")]  # fmt: skip
    try:
        client = MetabaseClient.from_settings(settings)
        response = client.request("GET", "/api/user/current")
        client._raise_for_status(response, "GET /api/user/current")
        user = response.json()
    except Exception as exc:  # noqa: BLE001
        return [Check("Metabase authentication", FAIL, _error_text(exc),
                      "check SFSYNC_METABASE_API_KEY (or username/password)")]  # fmt: skip
    ctx.metabase = client
    who = user.get("email") or user.get("common_name") or "authenticated"
    return [Check("Metabase authentication", OK, f"as {who}")]


def check_metabase_cards(ctx: DoctorContext, as_of: Any) -> list[Check]:
    """Each card a job reads exists and returns the columns its column mapping needs."""
    rows = []
    for job_name, role, source in _metabase_sources(ctx):
        label = f"Metabase card {source.card}" if source.card else "Metabase native query"
        label += f" ({job_name}.{role})"
        if ctx.metabase is None:
            rows.append(Check(label, SKIP, "no Metabase session"))
            continue
        if source.card is None:
            rows.append(Check(label, SKIP, "native SQL: checked when the job runs"))
            continue
        name = source.columns or DEFAULT_COLUMNS[role]
        try:
            mapping = load_column_mapping(ctx.project.mappings_dir / "columns" / f"{name}.yaml")
            ctx.metabase.card(source.card)
            frame = ctx.metabase.card_rows(source.card, resolve_parameters(source, as_of),
                                           fmt=source.format)  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            rows.append(Check(label, FAIL, _error_text(exc),
                              f"check that card {source.card} exists and the API key may run it; "
                              f"or change sources.{role}.card in jobs/{job_name}.yaml"))  # fmt: skip
            continue
        needed = [mapping.source_column(f) for f, s in mapping.columns.items() if s.required]
        missing = [c for c in needed if c not in frame.columns]
        if frame.empty and len(frame.columns) == 0:
            # Metabase's JSON export of an empty result has no columns to check
            rows.append(Check(label, WARN, f"no rows as of {as_of} (columns not checked)",
                              "check the question's filters and the data for that month, or "
                              "run doctor --as-of a date with data"))  # fmt: skip
        elif missing:
            rows.append(Check(label, FAIL, f"returns no column(s) {', '.join(missing)}",
                              f"add them to the question or map them in "
                              f"mappings/columns/{name}.yaml (source:)"))  # fmt: skip
        else:
            optional = [c for c in mapping.source_columns if c not in frame.columns]
            extra = f"; optional columns absent: {', '.join(optional)}" if optional else ""
            rows.append(Check(label, OK, f"{len(frame):,} rows with the mapped columns{extra}"))
    return rows


# -- Slack -----------------------------------------------------------------------------------
# scope -> (status when missing, what goes wrong without it)
SLACK_SCOPES: dict[str, tuple[str, str]] = {
    "chat:write": (FAIL, "no message can be posted"),
    "users:read.email": (WARN, "owners are named instead of @mentioned"),
    "users:read": (WARN, "many owners are looked up one call each instead of one users.list"),
    "channels:history": (
        WARN,
        "a run killed while posting cannot check the channel before posting again, so a "
        "message may appear twice",
    ),
    "channels:read": (WARN, "channels are not found by name"),
}
SCOPES_FIX = ("add the scope(s) under OAuth & Permissions → Bot Token Scopes of your Slack app, "
              "reinstall it and update SFSYNC_SLACK_TOKEN if it changed")  # fmt: skip


def check_slack(ctx: DoctorContext) -> list[Check]:
    settings = ctx.project.settings.slack
    wants = [n for n, job in ctx.jobs.items() if job.notify.slack]
    if not getattr(settings, "token", None):
        rows = _outbox_rows(ctx)
        if wants:
            return [Check("Slack authentication", WARN,
                          f"no token; jobs {', '.join(wants)} will send no alerts",
                          "set SFSYNC_SLACK_TOKEN (a bot token with chat:write)"), *rows]  # fmt: skip
        return [Check("Slack authentication", SKIP, "Slack is not configured"), *rows]

    base_url = getattr(settings, "base_url", None)
    client = make_client(
        settings.token.get_secret_value(), base_url, retry=getattr(settings, "retry", None)
    )
    try:
        auth = client.auth_test()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a row
        problem = classify(exc)
        if problem.fix:
            fix = problem.fix + "; then run `sfsync doctor` again"
        elif problem.unavailable:
            fix = (f"check that {base_url or 'https://slack.com/api/'} is reachable from this "
                   "host (proxy, firewall) and https://slack-status.com")  # fmt: skip
        else:
            fix = "check SFSYNC_SLACK_TOKEN (the Bot User OAuth Token of the installed app)"
        return [Check("Slack authentication", FAIL, redact_text(problem.message), fix),
                *_outbox_rows(ctx)]  # fmt: skip
    rows = [Check("Slack authentication", OK, f"as {auth.get('user')} in {auth.get('team')}")]
    rows.extend(_scope_rows(auth))
    channels = [c for c in (settings.channel, getattr(settings, "manager_channel", None)) if c]
    for channel in dict.fromkeys(channels):
        rows.append(_channel_row(client, channel))
    rows.extend(_outbox_rows(ctx))
    return rows


def _scope_rows(auth: Any) -> list[Check]:
    """The token's scopes, from the ``x-oauth-scopes`` header Slack sends with every answer."""
    headers = {str(k).lower(): v for k, v in (getattr(auth, "headers", None) or {}).items()}
    raw = headers.get("x-oauth-scopes")
    if raw is None:
        return []
    if isinstance(raw, list):
        raw = ",".join(raw)
    granted = {s.strip() for s in str(raw).split(",") if s.strip()}
    missing = [(scope, *SLACK_SCOPES[scope]) for scope in SLACK_SCOPES if scope not in granted]
    if not missing:
        return [Check("Slack scopes", OK, ", ".join(SLACK_SCOPES))]
    status = FAIL if any(m[1] == FAIL for m in missing) else WARN
    detail = "; ".join(f"no {scope}: {why}" for scope, _, why in missing)
    return [Check("Slack scopes", status, detail, SCOPES_FIX)]


def _outbox_rows(ctx: DoctorContext) -> list[Check]:
    """Messages queued in the state store's outbox (sent by the next run)."""
    try:
        store = open_store(ctx.project.settings.state_url)
    except Exception:  # noqa: BLE001 - the state store row reports it
        return []
    try:
        backlog = outbox_backlog(store)
    except Exception:  # noqa: BLE001
        return []
    finally:
        store.dispose()
    if not backlog.count:
        return [Check("Slack outbox", OK, "no message waiting")]
    since = f" since {backlog.oldest:%Y-%m-%d %H:%M} UTC" if backlog.oldest else ""
    error = f"; last error: {redact_text(backlog.last_error)}" if backlog.last_error else ""
    return [Check("Slack outbox", WARN, f"{backlog.count:,} messages waiting{since}{error}",
                  "fix the Slack rows above; the next run delivers them")]  # fmt: skip


def _channel_row(client: Any, channel: str) -> Check:
    name = f"Slack channel {channel}"
    try:
        channel_id = _channel_id(client, channel)
        if channel_id is None:
            return Check(name, FAIL, "no such channel visible to the bot",
                         f"create {channel} or change slack.channel in sfsync.yaml")  # fmt: skip
        info = client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as exc:
        return Check(name, FAIL, redact_text(classify(exc).message), "give the bot channels:read")
    if info.get("is_member"):
        return Check(name, OK, f"{channel_id}, the bot is a member")
    return Check(name, FAIL, f"{channel_id}: the bot is not a member",
                 f"invite the app: /invite @<app> in {channel}")  # fmt: skip


def _channel_id(client: Any, channel: str) -> str | None:
    if not channel.startswith("#") and channel[:1] in ("C", "G") and channel.isupper():
        return channel
    wanted = channel.lstrip("#")
    cursor = None
    while True:
        page = client.conversations_list(cursor=cursor, limit=200,
                                         types="public_channel,private_channel")  # fmt: skip
        for c in page.get("channels", []):
            if c.get("name") == wanted:
                return c["id"]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None


# -- all -------------------------------------------------------------------------------------
def run_checks(project: Any, as_of: Any) -> list[Check]:
    """Every check, in order; never raises for a failing service."""
    jobs, rows = load_jobs(project)
    ctx = DoctorContext(project, jobs)
    steps: list[Callable[[], list[Check]]] = [
        lambda: check_state_store(ctx),
        lambda: check_tenant_links(ctx),
        lambda: check_salesforce_auth(ctx),
        lambda: check_api_version(ctx),
        lambda: check_mapped_fields(ctx),
        lambda: check_task_key(ctx),
        lambda: check_api_requests(ctx),
        lambda: check_metabase(ctx),
        lambda: check_metabase_cards(ctx, as_of),
        lambda: check_slack(ctx),
    ]
    for step in steps:
        rows.extend(step())
    for row in rows:
        log.info("doctor_check", check=row.name, status=row.status, detail=row.detail)
    return rows


def failed(rows: Iterable[Check]) -> bool:
    return any(r.status == FAIL for r in rows)


def render_table(rows: list[Check]) -> str:
    """The table a person reads: name, status, detail; the fix under each failure/warning."""
    width = max([len(r.name) for r in rows] + [5])
    lines = [f"{'check':<{width}}  status  detail"]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.status:<6}  {r.detail}")
        if r.fix and r.status in (FAIL, WARN):
            lines.append(f"{'':<{width}}  {'':<6}  fix: {r.fix}")
    counts = {s: sum(1 for r in rows if r.status == s) for s in (OK, WARN, FAIL, SKIP)}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
