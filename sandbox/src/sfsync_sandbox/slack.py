"""A WSGI app that answers like the Slack Web API, for ``slack_sdk.WebClient(base_url=...)``.

Mount it so that ``base_url`` ends in ``/api/`` (methods are served at ``/api/<method>``; a
bare ``/<method>`` works too). Tokens come as ``Authorization: Bearer`` or a ``token``
argument; a wrong one answers ``{"ok": false, "error": "invalid_auth"}`` (HTTP 200, as Slack).

Methods: ``auth.test``, ``chat.postMessage`` (``channel`` as ``#name``, ``name``, channel id or
user id; ``text``, ``blocks``, ``thread_ts``, ``metadata``), ``users.lookupByEmail``
(``users_not_found``), ``users.info``, ``users.list`` (``limit``/``cursor`` pages; profile
emails only with ``users:read.email``), ``conversations.info`` (``channel_not_found``),
``conversations.list`` (cursor pagination), ``conversations.join``, ``conversations.history``
(newest first; ``oldest``/``latest`` exclusive unless ``inclusive``; ``limit``; opaque
``cursor``; ``metadata`` only with ``include_all_metadata``). Posting to a channel the bot is
not in answers ``not_in_channel``. Message metadata must be an object with an ``event_type``
(letters, digits, ``_``, ``-``) and an ``event_payload`` object; a bad ``event_type`` is
dropped with the warning ``invalid_metadata_schema``, a malformed value answers
``invalid_metadata_format`` (as Slack). Every posted message is recorded (ts, channel,
channel_name, text, blocks, thread_ts, metadata) and appended as one JSON object per line
(JSON Lines) to ``state_path``, so that it survives restarts and a long run does not rewrite
the file for every message.

The token has OAuth scopes (:data:`DEFAULT_SCOPES`, changed with ``PUT /_sandbox/scopes``);
every answer carries them in the ``x-oauth-scopes`` header as Slack does, and a method whose
scope is missing answers ``missing_scope`` with ``needed`` and ``provided``.

Sandbox-only admin endpoints (no authentication) under ``/_sandbox/``:
``GET messages`` / ``DELETE messages``, ``GET counters`` / ``POST counters/reset``,
``GET|PUT|POST faults`` with ``{"rate_limited": N, "retry_after": 1}`` (the next N calls answer
429 with ``Retry-After``) and/or ``{"outage": "503" | "drop"}`` (every call answers 503, or the
connection is closed without a response, until cleared) and/or ``{"auth_error": CODE}`` (every
call answers ``ok: false`` with ``invalid_auth``, ``not_authed``, ``account_inactive``,
``token_revoked`` or ``token_expired``, as for a token that went bad), ``DELETE faults``,
``PUT channels`` (``[{"id", "name", "is_member"}]``) to change channel membership, and
``GET|PUT scopes`` (a list of scope names) to change the token's scopes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

TEAM_ID = "T0SANDBOX"
BOT_USER_ID = "U0SFSYNCBOT"
BOT_ID = "B0SFSYNCBOT"
AUTH_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired")
DEFAULT_SCOPES: tuple[str, ...] = (
    "channels:history",
    "channels:join",
    "channels:read",
    "chat:write",
    "groups:history",
    "groups:read",
    "users:read",
    "users:read.email",
)
# The scope each method needs (any one of them), as in Slack's method reference
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "users.lookupByEmail": ("users:read.email",),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "conversations.info": ("channels:read", "groups:read"),
    "conversations.list": ("channels:read", "groups:read"),
    "conversations.join": ("channels:join",),
    "conversations.history": ("channels:history", "groups:history"),
}
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_-]+")
HISTORY_MAX_LIMIT = 999
DEFAULT_CHANNELS: tuple[dict[str, Any], ...] = (
    {"id": "C0CSALERTS", "name": "cs-alerts", "is_member": True},
    {"id": "C0CSMANAGERS", "name": "cs-managers", "is_member": True},
    {"id": "C0GENERAL", "name": "general", "is_member": False},
)


class SlackSandbox:
    """The WSGI application; ``create_app`` builds one. Thread-safe."""

    def __init__(
        self,
        token: str,
        state_path: Path,
        users: list[dict],
        channels: list[dict] | None = None,
    ) -> None:
        self._token = token
        self.state_path = Path(state_path)
        self._lock = threading.Lock()
        self.users = [_user_json(u) for u in users]
        self.channels = [dict(c) for c in (channels or DEFAULT_CHANNELS)]
        self.counters: Counter[str] = Counter()
        self.faults: dict[str, Any] = {}
        self.scopes: list[str] = list(DEFAULT_SCOPES)
        self.messages: list[dict] = self._load()
        self._last_ts = max((float(m["ts"]) for m in self.messages), default=0.0)
        self._methods = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "users.lookupByEmail": self._lookup_by_email,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.join": self._conversations_join,
            "conversations.history": self._conversations_history,
        }

    # ------------------------------------------------------------------ WSGI plumbing

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        path = request.path
        if path.startswith("/_sandbox/"):
            return self._admin(request, path[len("/_sandbox/") :])(environ, start_response)
        method = path.rsplit("/", 1)[-1]
        with self._lock:
            self.counters[method] += 1
            self.counters["api_calls"] += 1
            fault = self._fault_response()
        if fault == "drop":
            _drop_connection(environ)
            return []
        if fault is not None:
            return fault(environ, start_response)
        return self._api(request, method)(environ, start_response)

    def _fault_response(self) -> Response | str | None:
        outage = self.faults.get("outage")
        if outage == "drop":
            self.counters["faults_dropped"] += 1
            return "drop"
        if outage:
            self.counters["faults_http_503"] += 1
            return _json({"ok": False, "error": "service_unavailable"}, 503)
        if self.faults.get("rate_limited", 0) > 0:
            self.faults["rate_limited"] -= 1
            self.counters["faults_ratelimited"] += 1
            response = _json({"ok": False, "error": "ratelimited"}, 429)
            response.headers["Retry-After"] = str(self.faults.get("retry_after", 1))
            return response
        return None

    def _api(self, request: Request, method: str) -> Response:
        handler = self._methods.get(method)
        if handler is None:
            return _json({"ok": False, "error": "unknown_method"})
        args = _arguments(request)
        if args is None:
            return _json({"ok": False, "error": "invalid_json"})
        token = _bearer(request) or args.get("token")
        if not token:
            return _json({"ok": False, "error": "not_authed"})
        if not hmac.compare_digest(str(token).encode(), self._token.encode()):
            return _json({"ok": False, "error": "invalid_auth"})
        if self.faults.get("auth_error"):
            return _json({"ok": False, "error": self.faults["auth_error"]})
        with self._lock:
            scopes = list(self.scopes)
        needed = METHOD_SCOPES.get(method, ())
        if needed and not set(needed) & set(scopes):
            reply = {
                "ok": False,
                "error": "missing_scope",
                "needed": needed[0],
                "provided": ",".join(scopes),
            }
        else:
            reply = handler(args)
        response = _json(reply)
        response.headers["x-oauth-scopes"] = ",".join(scopes)
        return response

    # ------------------------------------------------------------------ Web API methods

    def _auth_test(self, args: dict) -> dict:
        return {
            "ok": True,
            "url": "https://sfsync-sandbox.slack.com/",
            "team": "sfsync sandbox",
            "user": "sfsync",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict) -> dict:
        target = args.get("channel")
        if not target:
            return {"ok": False, "error": "channel_not_found"}
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except json.JSONDecodeError:
                return {"ok": False, "error": "invalid_blocks"}
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks is not None and not isinstance(blocks, list):
            return {"ok": False, "error": "invalid_blocks_format"}
        metadata, warning = _metadata(args.get("metadata"))
        if warning == "invalid_metadata_format":
            return {"ok": False, "error": warning}
        user = self._find_user(target)
        if user is not None:
            channel_id, channel_name = "D" + user["id"][1:], user["name"]
        else:
            channel = self._find_channel(target)
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            if not channel["is_member"]:
                return {"ok": False, "error": "not_in_channel"}
            channel_id, channel_name = channel["id"], channel["name"]
        with self._lock:
            ts = self._next_ts()
            message = {
                "ts": ts,
                "channel": channel_id,
                "channel_name": channel_name,
                "text": text or "",
                "blocks": blocks,
                "thread_ts": args.get("thread_ts"),
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
            }
            if metadata:
                message["metadata"] = metadata
            self.messages.append(message)
            self._append(message)
        echoed = {
            "type": "message",
            "text": text or "",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
        }
        if blocks:
            echoed["blocks"] = blocks
        if args.get("thread_ts"):
            echoed["thread_ts"] = args["thread_ts"]
        if metadata:
            echoed["metadata"] = metadata
        reply = {"ok": True, "channel": channel_id, "ts": ts, "message": echoed}
        if warning:
            reply["warning"] = warning
            reply["response_metadata"] = {"warnings": [warning]}
        return reply

    def _lookup_by_email(self, args: dict) -> dict:
        email = str(args.get("email") or "").strip().lower()
        if not email:
            return {"ok": False, "error": "invalid_arguments"}
        for user in self.users:
            if user["profile"]["email"] and user["profile"]["email"].lower() == email:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    def _users_info(self, args: dict) -> dict:
        user = self._find_user(str(args.get("user") or ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _users_list(self, args: dict) -> dict:
        """Members page by page (``limit``, ``cursor``); emails only with users:read.email,
        as in Slack."""
        try:
            limit = int(args.get("limit") or 0)
            start = int(args.get("cursor") or 0)
        except ValueError:
            return {"ok": False, "error": "invalid_cursor"}
        if limit < 0 or start < 0:
            return {"ok": False, "error": "invalid_cursor"}
        page = self.users[start : start + limit] if limit else self.users[start:]
        more = bool(limit) and start + limit < len(self.users)
        with_email = "users:read.email" in self.scopes
        members = []
        for user in page:
            member = {**user, "profile": dict(user["profile"])}
            if not with_email:
                member["profile"].pop("email", None)
            members.append(member)
        return {
            "ok": True,
            "members": members,
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _conversations_info(self, args: dict) -> dict:
        channel = self._find_channel(str(args.get("channel") or ""), by_name=False)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": _channel_json(channel)}

    def _conversations_join(self, args: dict) -> dict:
        channel = self._find_channel(str(args.get("channel") or ""), by_name=False)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            already = bool(channel.get("is_member"))
            channel["is_member"] = True
        reply: dict[str, Any] = {"ok": True, "channel": _channel_json(channel)}
        if already:
            reply["warning"] = "already_in_channel"
        return reply

    def _conversations_history(self, args: dict) -> dict:
        channel = self._find_channel(str(args.get("channel") or ""), by_name=False)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel.get("is_member"):
            return {"ok": False, "error": "not_in_channel"}
        try:
            oldest = float(args.get("oldest") or 0)
        except ValueError:
            return {"ok": False, "error": "invalid_ts_oldest"}
        try:
            latest = float(args["latest"]) if args.get("latest") else time.time() + 1
        except ValueError:
            return {"ok": False, "error": "invalid_ts_latest"}
        try:
            limit = max(1, min(int(args.get("limit") or 100), HISTORY_MAX_LIMIT))
        except ValueError:
            return {"ok": False, "error": "invalid_limit"}
        inclusive = _flag(args.get("inclusive"))
        with_metadata = _flag(args.get("include_all_metadata"))
        before = None
        if args.get("cursor"):
            before = _decode_cursor(str(args["cursor"]))
            if before is None:
                return {"ok": False, "error": "invalid_cursor"}
        with self._lock:
            found = [
                m
                for m in self.messages
                if m["channel"] == channel["id"]
                and not m.get("thread_ts")
                and (oldest <= float(m["ts"]) if inclusive else oldest < float(m["ts"]))
                and (float(m["ts"]) <= latest if inclusive else float(m["ts"]) < latest)
                and (before is None or float(m["ts"]) < before)
            ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)  # newest first, as Slack
        page, more = found[:limit], len(found) > limit
        reply: dict[str, Any] = {
            "ok": True,
            "messages": [_history_json(m, with_metadata) for m in page],
            "has_more": more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if more:
            reply["response_metadata"] = {"next_cursor": _encode_cursor(page[-1]["ts"])}
        return reply

    def _conversations_list(self, args: dict) -> dict:
        try:
            limit = max(1, min(int(args.get("limit") or 100), 1000))
            start = int(args.get("cursor") or 0)
        except ValueError:
            return {"ok": False, "error": "invalid_cursor"}
        page = self.channels[start : start + limit]
        more = start + limit < len(self.channels)
        return {
            "ok": True,
            "channels": [_channel_json(c) for c in page],
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    # ------------------------------------------------------------------ admin endpoints

    def _admin(self, request: Request, path: str) -> Response:
        verb = request.method
        if path == "messages" and verb == "GET":
            with self._lock:
                return _json(list(self.messages))
        if path == "messages" and verb == "DELETE":
            self.clear_messages()
            return _json({"ok": True})
        if path == "counters" and verb == "GET":
            with self._lock:
                return _json(dict(self.counters))
        if path == "counters/reset" and verb == "POST":
            with self._lock:
                self.counters.clear()
            return _json({"ok": True})
        if path == "faults":
            if verb == "DELETE":
                self.set_faults()
            elif verb in ("PUT", "POST"):
                body = request.get_json(silent=True) or {}
                unknown = set(body) - {"rate_limited", "retry_after", "outage", "auth_error"}
                if (
                    unknown
                    or body.get("outage") not in (None, "503", "drop")
                    or body.get("auth_error") not in (None, *AUTH_ERRORS)
                ):
                    return _json({"ok": False, "error": "invalid_faults"}, 400)
                try:
                    self.set_faults(**body)
                except (TypeError, ValueError):
                    return _json({"ok": False, "error": "invalid_faults"}, 400)
            with self._lock:
                return _json(dict(self.faults))
        if path == "channels" and verb in ("PUT", "POST"):
            body = request.get_json(silent=True)
            if not isinstance(body, list) or not all(
                isinstance(c, dict) and {"id", "name"} <= set(c) for c in body
            ):
                return _json({"ok": False, "error": "invalid_channels"}, 400)
            with self._lock:
                self.channels = [{"is_member": False, **c} for c in body]
            return _json({"ok": True})
        if path == "channels" and verb == "GET":
            return _json(self.channels)
        if path == "scopes" and verb in ("PUT", "POST"):
            body = request.get_json(silent=True)
            if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
                return _json({"ok": False, "error": "invalid_scopes"}, 400)
            with self._lock:
                self.scopes = list(body)
            return _json({"ok": True})
        if path == "scopes" and verb == "GET":
            with self._lock:
                return _json(list(self.scopes))
        return _json({"ok": False, "error": "unknown_admin_endpoint"}, 404)

    def set_faults(
        self,
        rate_limited: int = 0,
        retry_after: int = 1,
        outage: str | None = None,
        auth_error: str | None = None,
    ) -> None:
        """Set (or with no arguments clear) injected faults."""
        with self._lock:
            self.faults = {}
            if rate_limited:
                self.faults.update(rate_limited=int(rate_limited), retry_after=int(retry_after))
            if outage:
                self.faults["outage"] = outage
            if auth_error:
                self.faults["auth_error"] = auth_error

    def clear_messages(self) -> None:
        """Forget every recorded message (also on disk)."""
        with self._lock:
            self.messages = []
            self._save()

    # ------------------------------------------------------------------ helpers

    def _find_user(self, key: str) -> dict | None:
        key = key.lstrip("@")
        return next((u for u in self.users if key in (u["id"], u["name"])), None)

    def _find_channel(self, key: str, by_name: bool = True) -> dict | None:
        for channel in self.channels:
            if key == channel["id"] or (by_name and key.lstrip("#") == channel["name"]):
                return channel
        return None

    def _next_ts(self) -> str:
        self._last_ts = max(round(time.time(), 6), round(self._last_ts + 0.000001, 6))
        return f"{self._last_ts:.6f}"

    def _load(self) -> list[dict]:
        if not self.state_path.exists():
            return []
        messages = []
        lines = self.state_path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines):  # a write torn by a crash: that message never got "ok"
                    self.messages = messages
                    self._save()  # drop the torn line so that appends start on a clean line
                    break
                raise ValueError(
                    f"{self.state_path}, line {number}: unreadable Slack sandbox message; "
                    "delete the file or run `sfsync sandbox reset`"
                ) from None
        return messages

    def _append(self, message: dict) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with self.state_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(message, ensure_ascii=False) + "\n")

    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".slack-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(m, ensure_ascii=False) + "\n" for m in self.messages)
        os.replace(tmp, self.state_path)


def create_app(
    token: str, state_path: Path, users: list[dict], channels: list[dict] | None = None
) -> SlackSandbox:
    """Build the Slack sandbox WSGI app.

    ``users`` are ``{"id", "name", "email"}`` dicts (``SampleData.slack_users()``);
    ``channels`` are ``{"id", "name", "is_member"}`` dicts, by default ``#cs-alerts`` and
    ``#cs-managers`` (joined) and ``#general`` (not joined). Messages persist in ``state_path``.
    """
    return SlackSandbox(token, state_path, users, channels)


def _user_json(user: dict) -> dict:
    name = str(user.get("name") or user["id"])
    return {
        "id": str(user["id"]),
        "team_id": TEAM_ID,
        "name": name,
        "real_name": user.get("real_name") or name,
        "deleted": False,
        "is_bot": False,
        "profile": {
            "email": str(user.get("email") or ""),
            "real_name": user.get("real_name") or name,
            "display_name": name,
        },
    }


def _channel_json(channel: dict) -> dict:
    return {
        "id": channel["id"],
        "name": channel["name"],
        "is_channel": True,
        "is_private": False,
        "is_archived": False,
        "is_member": bool(channel.get("is_member")),
    }


def _metadata(value: Any) -> tuple[dict | None, str | None]:
    """(metadata to keep, warning or error code) for a ``metadata`` argument."""
    if value in (None, ""):
        return None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None, "invalid_metadata_format"
    if not isinstance(value, dict) or not isinstance(value.get("event_payload", {}), dict):
        return None, "invalid_metadata_format"
    event_type = value.get("event_type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        return None, "invalid_metadata_schema"  # a warning: posted without the metadata
    return {"event_type": event_type, "event_payload": value.get("event_payload") or {}}, None


def _history_json(message: dict, with_metadata: bool) -> dict:
    item = {
        "type": "message",
        "user": message.get("user", BOT_USER_ID),
        "bot_id": message.get("bot_id", BOT_ID),
        "text": message.get("text", ""),
        "ts": message["ts"],
        "team": TEAM_ID,
    }
    if message.get("blocks"):
        item["blocks"] = message["blocks"]
    if with_metadata and message.get("metadata"):
        item["metadata"] = message["metadata"]
    return item


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes") if value is not None else False


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _decode_cursor(cursor: str) -> float | None:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not text.startswith("next_ts:") or not text[8:].isdigit() or len(text[8:]) < 7:
        return None
    digits = text[8:]
    return float(f"{digits[:-6]}.{digits[-6:]}")


def _arguments(request: Request) -> dict | None:
    args: dict[str, Any] = dict(request.args.items())
    if request.mimetype == "application/json" and request.get_data(cache=True).strip():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return None
        args.update(body)
    else:
        args.update(request.form.items())
    return args


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _drop_connection(environ: dict) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("sandbox fault: connection dropped")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json; charset=utf-8",
    )
