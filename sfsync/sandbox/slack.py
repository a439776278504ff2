"""A WSGI app that answers like the Slack Web API, for ``slack_sdk.WebClient(base_url=...)``.

Mount it so that ``base_url`` ends in ``/api/`` (methods are served at ``/api/<method>``; a
bare ``/<method>`` works too). Tokens come as ``Authorization: Bearer`` or a ``token``
argument; a wrong one answers ``{"ok": false, "error": "invalid_auth"}`` (HTTP 200, as Slack).

Methods: ``auth.test``, ``chat.postMessage`` (``channel`` as ``#name``, ``name``, channel id or
user id; ``text``, ``blocks``, ``thread_ts``), ``users.lookupByEmail`` (``users_not_found``),
``users.info``, ``conversations.info`` (``channel_not_found``), ``conversations.list``
(cursor pagination), ``conversations.join``. Posting to a channel the bot is not in answers ``not_in_channel``.
Every posted message is recorded (ts, channel, channel_name, text, blocks, thread_ts) and
appended as one JSON object per line (JSON Lines) to ``state_path``, so that it survives
restarts and a long run does not rewrite the file for every message.

Sandbox-only admin endpoints (no authentication) under ``/_sandbox/``:
``GET messages`` / ``DELETE messages``, ``GET counters`` / ``POST counters/reset``,
``GET|PUT|POST faults`` with ``{"rate_limited": N, "retry_after": 1}`` (the next N calls answer
429 with ``Retry-After``) and/or ``{"outage": "503" | "drop"}`` (every call answers 503, or the
connection is closed without a response, until cleared), ``DELETE faults``, and
``PUT channels`` (``[{"id", "name", "is_member"}]``) to change channel membership.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
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
        self.messages: list[dict] = self._load()
        self._last_ts = max((float(m["ts"]) for m in self.messages), default=0.0)
        self._methods = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "users.lookupByEmail": self._lookup_by_email,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.join": self._conversations_join,
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
        return _json(handler(args))

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
        return {"ok": True, "channel": channel_id, "ts": ts, "message": echoed}

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
                unknown = set(body) - {"rate_limited", "retry_after", "outage"}
                if unknown or body.get("outage") not in (None, "503", "drop"):
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
        return _json({"ok": False, "error": "unknown_admin_endpoint"}, 404)

    def set_faults(
        self, rate_limited: int = 0, retry_after: int = 1, outage: str | None = None
    ) -> None:
        """Set (or with no arguments clear) injected faults."""
        with self._lock:
            self.faults = {}
            if rate_limited:
                self.faults.update(rate_limited=int(rate_limited), retry_after=int(retry_after))
            if outage:
                self.faults["outage"] = outage

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
