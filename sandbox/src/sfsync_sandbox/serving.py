"""Serve WSGI apps over HTTPS on 127.0.0.1 in background threads."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log lines: tests and benchmarks make thousands of requests."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        if type == "error":
            logging.getLogger("sfsync_sandbox").debug(message, *args)


class BackgroundServer:
    """One HTTPS server on ``127.0.0.1:<port>`` (port 0: any free port) in a daemon thread."""

    def __init__(self, app: Callable, ssl_context: ssl.SSLContext, port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1",
            port,
            app,
            threaded=True,
            request_handler=_QuietHandler,
            ssl_context=ssl_context,
        )
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, daemon=True, name=f"sandbox-{self.port}"
        )

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
