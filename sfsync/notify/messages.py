"""Slack messages (Block Kit plus a plain-text fallback) built from the ``slack`` templates.

Every builder returns ``(text, blocks)``: ``text`` is the notification/fallback text Slack
shows where blocks cannot be shown, ``blocks`` a header, one or more mrkdwn sections and an
optional context line. Values are escaped for mrkdwn (``&``, ``<``, ``>``) before they are put
into a template; mentions (``<@U…>``) and links are built here and inserted unescaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sfsync.labels import Labels
from sfsync.links import record_url
from sfsync.log import redact_text
from sfsync.templates import TemplateSet

HEADER_MAX = 150  # Slack's limit for a plain_text header
SECTION_MAX = 3000  # Slack's limit for a section's text
MAX_LINES = 15  # list lines per digest section before "…and N more"


def escape(value: Any) -> str:
    """Escape a value for Slack mrkdwn."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _round(value: Any) -> Any:
    """A score as people read it: a whole number."""
    try:
        return int(round(float(value)))
    except (TypeError, ValueError):
        return value


def _header(text: str) -> dict:
    if len(text) > HEADER_MAX:
        text = text[: HEADER_MAX - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _section(text: str) -> dict:
    if len(text) > SECTION_MAX:
        text = text[: SECTION_MAX - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


class MessageBuilder(Labels):
    """Builds the messages of one template language for one Salesforce org (labels from
    :class:`sfsync.labels.Labels`)."""

    def __init__(self, templates: TemplateSet, instance_url: str = "") -> None:
        super().__init__(templates)
        self.instance_url = instance_url

    # --- messages -------------------------------------------------------------------------
    def _render(self, key: str, values: Mapping[str, Any]) -> dict[str, str]:
        return self.t.render("slack", key, dict(values))

    def _alert_values(self, ctx: Mapping[str, Any]) -> dict[str, str]:
        score = ctx.get("score")
        return {
            "account_name": escape(ctx.get("account_name") or ctx["account_id"]),
            "segment": escape(ctx.get("segment") or "-"),
            "score": "-" if score is None or score != score else escape(score),
            "band_label": escape(self.band_label(ctx.get("band"))),
            "signals": escape(self.signals_text(ctx.get("codes", []))),
            "owner": ctx.get("owner_mention") or escape(ctx.get("owner_name") or "-"),
            "due_date": escape(ctx.get("due_date", "")),
            "url": record_url(self.instance_url, ctx["account_id"]),
        }

    def signal_alert(self, ctx: Mapping[str, Any]) -> tuple[str, list[dict]]:
        """New churn signal(s) of one account. ``ctx``: account_id, account_name, segment, score,
        band, codes, owner_mention or owner_name, due_date."""
        r = self._render("signal_alert", self._alert_values(ctx))
        blocks = [_header(r["header"]), _section(r["body"]), _context(r["context"])]
        return r["fallback"], blocks

    def escalation(self, ctx: Mapping[str, Any], reasons: list[str]) -> tuple[str, list[dict]]:
        """Manager-channel escalation; ``reasons`` are ``segment`` and/or ``band``."""
        values = self._alert_values(ctx)
        texts = []
        for reason in reasons:
            texts.append(
                self._render(f"escalation_reason_{reason}", {"band_label": values["band_label"]})[
                    "text"
                ]
            )
        values["reasons"] = " / ".join(texts)
        r = self._render("signal_escalation", values)
        return r["fallback"], [_header(r["header"]), _section(r["body"]), _context(r["context"])]

    def overdue_escalation(self, ctx: Mapping[str, Any]) -> tuple[str, list[dict]]:
        """An overdue signal Task escalated to the manager. ``ctx``: account_id, account_name,
        subject (the escalation Task's), due_date, manager (mention placeholder or name)."""
        values = {
            "account_name": escape(ctx.get("account_name") or ctx["account_id"]),
            "subject": escape(ctx.get("subject", "")),
            "due_date": escape(ctx.get("due_date", "")),
            "manager": ctx.get("manager") or "-",
            "url": record_url(self.instance_url, ctx["account_id"]),
        }
        r = self._render("overdue_escalation", values)
        return r["fallback"], [_header(r["header"]), _section(r["body"]), _context(r["context"])]

    def _list_section(self, key: str, items: list[dict[str, Any]]) -> dict | None:
        if not items:
            return None
        spec = self.t.fields("slack", key)
        lines = [
            self.t.render("slack", key, {k: escape(v) for k, v in item.items()}).get("line", "")
            for item in items[:MAX_LINES]
        ]
        if len(items) > MAX_LINES:
            lines.append(self._render("digest_more", {"count": len(items) - MAX_LINES})["text"])
        return _section(spec.get("title", "") + "\n" + "\n".join(lines))

    def digest(self, ctx: Mapping[str, Any]) -> tuple[str, list[dict]]:
        """Run digest. ``ctx``: job, as_of, tasks_created, failures (list of str), new and
        cleared (lists of {account_name, signals}) with new_count and cleared_count (signals), bands (list of {from_band, to_band,
        count}), capacity (list of capacity_lines dicts), overloaded (owner_load_lines of the owners
        above a load of 1.0), reassignments (reassignment suggestions), deferred_count (Tasks the daily limit
        deferred)."""
        values = {
            "job": escape(ctx.get("job", "")),
            "as_of": escape(ctx.get("as_of", "")),
            "new_count": ctx.get("new_count", len(ctx.get("new", []))),
            "cleared_count": ctx.get("cleared_count", len(ctx.get("cleared", []))),
            "moved_count": sum(int(b["count"]) for b in ctx.get("bands", [])),
            "tasks_created": ctx.get("tasks_created", 0),
            "failures": len(ctx.get("failures", [])),
        }
        r = self._render("digest", values)
        blocks = [_header(r["header"]), _section(r["body"])]
        if ctx.get("deferred_count"):
            deferred = self._render("digest_deferred", {"count": ctx["deferred_count"]})
            blocks.append(_section(deferred["text"]))
        for key, items in (
            ("digest_new", ctx.get("new", [])),
            ("digest_cleared", ctx.get("cleared", [])),
            ("digest_bands", ctx.get("bands", [])),
            ("digest_capacity", ctx.get("capacity", [])),
            ("digest_overloaded", ctx.get("overloaded", [])),
            ("digest_reassignments", ctx.get("reassignments", [])),
            ("digest_failures", [{"failure": f} for f in ctx.get("failures", [])]),
        ):
            block = self._list_section(key, list(items))
            if block:
                blocks.append(block)
        return r["fallback"], blocks

    def _account_line(self, key: str, item: Any, extra: Mapping[str, str]) -> str:
        score = item.score
        values = {
            "account_name": escape(item.account_name or item.account_id),
            "segment": escape(item.segment or "-"),
            "score": "-" if score is None or score != score else escape(_round(score)),
            "band_label": escape(self.band_label(item.band)),
            "signals": escape(self.signals_text(item.codes)),
            "url": record_url(self.instance_url, item.account_id),
            **extra,
        }
        return self.t.render("slack", key, values)["line"]

    def worklist_reason(self, item: Any) -> str:
        """Why a worklist account is there (:class:`sfsync.notify.worklist.WorklistItem`): its
        top churn signal (and how many others), else the days to its renewal, else ''."""
        if item.signal:
            key = "worklist_reason_signals" if item.other_signals else "worklist_reason_signal"
            values = {"signal": self.signal_label(item.signal), "more": item.other_signals}
            return self._render(key, values)["text"]
        if item.renewal_date is not None:
            key = (
                "worklist_reason_renewal" if item.renewal_days else "worklist_reason_renewal_today"
            )
            values = {"days": item.renewal_days, "renewal_date": item.renewal_date.isoformat()}
            return self._render(key, values)["text"]
        return ""

    def worklist_lines(self, items: list[Any], limit: int) -> list[str]:
        """The first ``limit`` worklist lines: rank, the linked account name, band and reason."""
        lines = []
        for item in items[:limit]:
            reason = self.worklist_reason(item)
            values = {
                "rank": item.rank,
                "account_name": escape(item.account_name or item.account_id),
                "band_label": escape(self.band_label(item.band)),
                "reason": escape(reason),
                "url": record_url(self.instance_url, item.account_id),
            }
            field = "line" if reason else "line_plain"
            lines.append(self.t.render("slack", "owner_digest_worklist_line", values)[field])
        return lines

    def _worklist_section(self, items: list[Any], limit: int) -> dict | None:
        if not items:
            return None
        lines = self.worklist_lines(items, limit)
        title = self.t.render("slack", "owner_digest_worklist", {"count": len(lines)})["title"]
        return _section(title + "\n" + "\n".join(lines))

    def owner_digest(self, ctx: Mapping[str, Any]) -> tuple[str, list[dict]]:
        """One owner's digest. ``ctx``: as_of, due_date, owner (a mention placeholder or the
        escaped name), digest (:class:`sfsync.notify.owner_digest.OwnerDigest`), top (accounts
        and Tasks listed), limit (the daily Task limit, for the deferred line), worklist_top
        (worklist lines; default: the whole worklist). A digest without new signals (calm)
        has its own header and the worklist first."""
        digest = ctx["digest"]
        top = int(ctx.get("top", MAX_LINES))
        values = {
            "as_of": escape(ctx.get("as_of", "")),
            "owner": ctx.get("owner") or "-",
            "signal_count": digest.signal_count,
            "account_count": len(digest.accounts),
            "task_count": len(digest.tasks),
            "worklist_count": len(digest.worklist),
        }
        r = self._render("owner_worklist" if digest.calm else "owner_digest", values)
        body = r["body"]
        if digest.accounts:
            body += (
                "\n"
                + self._render("owner_digest_rule", {"due_date": escape(ctx.get("due_date", ""))})[
                    "text"
                ]
            )
        blocks = [_header(r["header"]), _section(body)]
        worklist = self._worklist_section(
            digest.worklist, int(ctx.get("worklist_top") or len(digest.worklist))
        )
        if worklist and digest.calm:
            blocks.append(worklist)
        if digest.accounts:
            spec = self.t.fields("slack", "owner_digest_accounts")
            lines = [
                self._account_line("owner_digest_accounts", a, {}) for a in digest.accounts[:top]
            ]
            if len(digest.accounts) > top:
                more = len(digest.accounts) - top
                lines.append(self._render("digest_more", {"count": more})["text"])
            blocks.append(_section(spec.get("title", "") + "\n" + "\n".join(lines)))
        if digest.tasks or digest.deferred:
            spec = self.t.fields("slack", "owner_digest_tasks")
            lines = [
                self.t.render("slack", "owner_digest_tasks", {"subject": escape(t)})["line"]
                for t in digest.tasks[:top]
            ]
            if len(digest.tasks) > top:
                more = len(digest.tasks) - top
                lines.append(self._render("digest_more", {"count": more})["text"])
            if digest.deferred:
                lines.append(
                    self._render(
                        "owner_digest_deferred",
                        {"count": digest.deferred, "limit": ctx.get("limit") or "-"},
                    )["text"]
                )
            blocks.append(_section(spec.get("title", "") + "\n" + "\n".join(lines)))
        if worklist and not digest.calm:
            blocks.append(worklist)
        return r["fallback"], blocks

    def owners_digest(self, ctx: Mapping[str, Any]) -> tuple[str, list[dict]]:
        """Several owners' digests in one message (a run with many owners): a section per
        owner, mentioned, with their top accounts and the top of their worklist. ``ctx``:
        as_of, due_date, part, parts, entries (list of (owner text, OwnerDigest)), top, limit."""
        entries = list(ctx["entries"])
        top = int(ctx.get("top", 5))
        owners = [owner for owner, _ in entries]
        r = self._render(
            "owners_digest",
            {
                "as_of": escape(ctx.get("as_of", "")),
                "due_date": escape(ctx.get("due_date", "")),
                "owner_count": len(entries),
                "part": ctx.get("part", 1),
                "parts": ctx.get("parts", 1),
                "owners": " ".join(owners),
            },
        )
        blocks = [_header(r["header"]), _section(r["body"])]
        for owner, digest in entries:
            lines = [
                self.t.render(
                    "slack",
                    "owners_digest_owner",
                    {
                        "owner": owner,
                        "signal_count": digest.signal_count,
                        "account_count": len(digest.accounts),
                        "task_count": len(digest.tasks),
                    },
                )["line"]
            ]
            lines += [
                self._account_line("owner_digest_accounts", a, {}) for a in digest.accounts[:top]
            ]
            if len(digest.accounts) > top:
                lines.append(
                    self._render("digest_more", {"count": len(digest.accounts) - top})["text"]
                )
            if digest.deferred:
                lines.append(
                    self._render(
                        "owner_digest_deferred",
                        {"count": digest.deferred, "limit": ctx.get("limit") or "-"},
                    )["text"]
                )
            if digest.worklist:
                shown = self.worklist_lines(digest.worklist, top)
                title = self.t.render("slack", "owner_digest_worklist", {"count": len(shown)})
                lines += [title["title"], *shown]
            blocks.append(_section("\n".join(lines)))
        return r["fallback"], blocks

    def escalation_digest(self, ctx: Mapping[str, Any]) -> tuple[str, list[dict]]:
        """The manager channel's escalations of a run in one message. ``ctx``: as_of, items
        (list of (AccountItem, reasons, owner text)), top."""
        items = list(ctx.get("items", []))
        top = int(ctx.get("top", MAX_LINES))
        r = self._render(
            "escalation_digest", {"as_of": escape(ctx.get("as_of", "")), "count": len(items)}
        )
        lines = []
        for item, reasons, owner in items[:top]:
            band = escape(self.band_label(item.band))
            texts = [
                self._render(f"escalation_reason_{reason}", {"band_label": band})["text"]
                for reason in reasons
            ]
            lines.append(
                self._account_line(
                    "escalation_digest_line", item, {"reasons": " / ".join(texts), "owner": owner}
                )
            )
        if len(items) > top:
            lines.append(self._render("digest_more", {"count": len(items) - top})["text"])
        blocks = [_header(r["header"]), _section(r["body"])]
        # a section holds at most 3,000 characters: several sections of lines
        chunk: list[str] = []
        for line in lines:
            if chunk and len("\n".join([*chunk, line])) > SECTION_MAX:
                blocks.append(_section("\n".join(chunk)))
                chunk = []
            chunk.append(line)
        if chunk:
            blocks.append(_section("\n".join(chunk)))
        return r["fallback"], blocks

    def run_failed(
        self, *, job: str, as_of: str, run_id: str, error: str
    ) -> tuple[str, list[dict]]:
        """A run failed; secrets in ``error`` are masked here, before escaping and truncation."""
        values = {
            "job": escape(job),
            "as_of": escape(as_of),
            "run_id": escape(run_id),
            "error": escape(redact_text(error))[:1500],
        }
        r = self._render("run_failed", values)
        return r["fallback"], [_header(r["header"]), _section(r["body"])]

    def kpi_summary(self, month: str, rows: list[dict[str, Any]]) -> tuple[str, list[dict]]:
        """Monthly KPI summary; ``rows``: {key, value_text, target_text, status met|not_met|na}."""
        met = sum(1 for row in rows if row["status"] == "met")
        measured = sum(1 for row in rows if row["status"] != "na")
        r = self._render(
            "kpi_summary",
            {
                "month": month,
                "met_count": met,
                "total_count": measured,
                "mark": "",
                "label": "",
                "value": "",
                "target": "",
            },
        )
        lines = []
        for row in rows:
            mark = self._label(f"kpi_{row['status']}", "", field="mark")
            lines.append(
                self.t.render(
                    "slack",
                    "kpi_summary",
                    {
                        "month": month,
                        "met_count": met,
                        "total_count": measured,
                        "mark": mark,
                        "label": escape(self.kpi_label(row["key"])),
                        "value": escape(row["value_text"]),
                        "target": escape(row["target_text"]),
                    },
                )["line"]
            )
        blocks = [_header(r["header"]), _section(r["body"]), _section("\n".join(lines))]
        return r["fallback"], blocks
