"""A small Slack Web API server for the notification tests (real HTTP via werkzeug).

Used until ``sfsync.sandbox.slack`` lands on main. Implements ``chat.postMessage`` and
``users.lookupByEmail`` with Slack's response shapes, and faults: ``rate_limit`` (HTTP 429 with
``Retry-After`` for the next N posts), ``outage`` (HTTP 503 for every call).
"""

from __future__ import annotations

import json
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class SlackStub:
    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = users or {}
        self.messages: list[dict] = []
        self.calls: list[str] = []
        self.rate_limit = 0
        self.retry_after = 1
        self.outage = False
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        method = request.path.rsplit("/", 1)[-1]
        with self._lock:
            self.calls.append(method)
            if self.outage:
                return Response("upstream down", status=503)(environ, start_response)
            if request.headers.get("Authorization") != "Bearer xoxb-test":
                return _json({"ok": False, "error": "invalid_auth"})(environ, start_response)
            if method == "chat.postMessage":
                if self.rate_limit > 0:
                    self.rate_limit -= 1
                    resp = _json({"ok": False, "error": "ratelimited"}, status=429)
                    resp.headers["Retry-After"] = str(self.retry_after)
                    return resp(environ, start_response)
                body = request.get_json(silent=True) or request.form.to_dict()
                if not body.get("channel"):
                    return _json({"ok": False, "error": "channel_not_found"})(
                        environ, start_response
                    )
                ts = f"1700000000.{len(self.messages):06d}"
                self.messages.append({**body, "ts": ts})
                return _json({"ok": True, "channel": body["channel"], "ts": ts})(
                    environ, start_response
                )
            if method == "users.lookupByEmail":
                email = request.args.get("email") or request.form.get("email")
                if email in self.users:
                    return _json({"ok": True, "user": {"id": self.users[email]}})(
                        environ, start_response
                    )
                return _json({"ok": False, "error": "users_not_found"})(environ, start_response)
            return _json({"ok": False, "error": "unknown_method"})(environ, start_response)


def _json(data, status=200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class Served:
    """Serve a WSGI app on 127.0.0.1:<free port> in a thread."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
