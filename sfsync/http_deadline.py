"""Total deadlines for HTTP calls: requests' ``timeout`` bounds each socket read, not the call.

A server that sends one byte a second never trips a 3-second read timeout, so a call could
last forever. Here a response is streamed and its body read piece by piece (``read1``: what
has arrived, never waiting to fill a buffer); between pieces the elapsed time is checked
against the call's :class:`Deadline`, and each socket read may wait at most the time left.
When the deadline passes, the connection is dropped and :class:`DeadlineExceeded` names the
service and the setting that bounds it.

- :class:`Deadline`: a start time and a budget; ``check()``, ``remaining()``, ``cap(timeout)``.
- :func:`read_body`: read a ``stream=True`` response within a deadline (sets ``.content``).
- :class:`DeadlineAdapter`: a ``requests`` transport adapter that gives every call sent
  through a session its own deadline (mounted on the Salesforce session).
"""

from __future__ import annotations

import io
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from sfsync.errors import TransientError

#: Largest piece read at once; ``read1`` returns earlier with whatever has arrived.
CHUNK_BYTES = 256 * 1024
#: A socket timeout set to the time left may fire this early (clock granularity).
_SLACK = 0.05


class DeadlineExceeded(TransientError):
    """An HTTP call did not complete within its total deadline (the server is stalled or
    dripping data). Not retried: the deadline is the most the call may take."""

    def __init__(self, service: str, what: str, seconds: float, setting: str) -> None:
        self.service = service
        self.setting = setting
        self.seconds = seconds
        super().__init__(
            f"{service} did not finish {what} within {seconds:g} s (the total deadline "
            f"{setting}); the server is stalled or sending data too slowly",
            hint=f"check that {service} is healthy; if it is just slow, raise {setting} "
            "in sfsync.yaml",
        )


@dataclass
class Deadline:
    """A total time budget for one call, started when the object is made."""

    seconds: float
    service: str
    setting: str
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def exceeded(self, what: str) -> DeadlineExceeded:
        return DeadlineExceeded(self.service, what, self.seconds, self.setting)

    def check(self, what: str) -> None:
        """Raise :class:`DeadlineExceeded` when no time is left."""
        if self.remaining() <= 0:
            raise self.exceeded(what)

    def cap(self, timeout: Any) -> tuple[float, float]:
        """``(connect, read)`` timeouts of ``timeout`` (a number, a pair or None), each at most
        the time left (and at least a few milliseconds, so a socket never blocks forever)."""
        left = max(self.remaining(), 0.01)
        connect, read = _pair(timeout)
        return (min(connect, left) if connect else left, min(read, left) if read else left)


def _pair(timeout: Any) -> tuple[float | None, float | None]:
    if timeout is None:
        return None, None
    if isinstance(timeout, tuple):
        return timeout[0], timeout[1]
    connect = getattr(timeout, "connect_timeout", None)
    if connect is not None or hasattr(timeout, "read_timeout"):  # urllib3 Timeout
        read = getattr(timeout, "read_timeout", None)
        return _number(connect), _number(read)
    return float(timeout), float(timeout)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def describe(method: str | None, url: str | None) -> str:
    """``METHOD /path`` (no query string, no credentials) for messages."""
    return f"{(method or 'GET').upper()} {urlsplit(url or '').path or '/'}"


def _socket(raw: Any) -> socket.socket | None:
    """The socket under a urllib3 response, when it can be found (best effort)."""
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if isinstance(sock, socket.socket):
        return sock
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def read_body(
    response: requests.Response, deadline: Deadline, what: str, read_timeout: float | None
) -> bytes:
    """Read the rest of a ``stream=True`` response within ``deadline``; returns the body and
    makes it the response's ``content``. A passed deadline closes the connection and raises
    :class:`DeadlineExceeded`; network failures raise the ``requests`` exceptions that
    ``response.content`` would."""
    raw = response.raw
    if getattr(response, "_content", False) not in (False, None) or raw is None:
        return response.content
    read = getattr(raw, "read1", None) or raw.read
    sock = _socket(raw)
    # a BytesIO grows in place and hands its buffer over: a body of hundreds of megabytes (a
    # Metabase export) is not held twice, as a list of pieces and their join, at the end
    pieces = io.BytesIO()
    try:
        while True:
            left = deadline.remaining()
            if left <= 0:
                raise deadline.exceeded(what)
            if sock is not None:
                try:
                    sock.settimeout(min(left, read_timeout) if read_timeout else left)
                except OSError:
                    sock = None
            piece = read(CHUNK_BYTES, decode_content=True)
            if not piece:
                break
            pieces.write(piece)
    except DeadlineExceeded:
        response.close()
        raise
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
        response.close()
        if deadline.remaining() <= _SLACK:
            raise deadline.exceeded(what) from None
        raise requests.exceptions.ConnectionError(exc, request=response.request) from None
    except urllib3.exceptions.ProtocolError as exc:
        response.close()
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        response.close()
        raise requests.exceptions.ContentDecodingError(exc) from None
    except (urllib3.exceptions.SSLError, OSError) as exc:
        response.close()
        raise requests.exceptions.ConnectionError(exc, request=response.request) from None
    body = pieces.getvalue()
    pieces.close()
    response._content = body
    response._content_consumed = True
    release = getattr(raw, "release_conn", None)
    if release is not None:
        release()
    return body


def send_within(
    send: Any, deadline: Deadline, what: str, timeout: Any, **kwargs: Any
) -> requests.Response:
    """Call ``send(stream=True, timeout=…)`` with timeouts capped by ``deadline``, then read
    the body within it. A timeout caused by the deadline becomes :class:`DeadlineExceeded`."""
    deadline.check(what)
    read_timeout = _pair(timeout)[1]
    try:
        response = send(stream=True, timeout=deadline.cap(timeout), **kwargs)
    except requests.Timeout:
        if deadline.remaining() <= _SLACK:
            raise deadline.exceeded(what) from None
        raise
    except requests.ConnectionError as exc:
        # urllib3 reports a read timeout while reading headers as a connection error sometimes
        if deadline.remaining() <= _SLACK and "timed out" in str(exc):
            raise deadline.exceeded(what) from None
        raise
    read_body(response, deadline, what, read_timeout)
    return response


class DeadlineAdapter(HTTPAdapter):
    """Transport adapter: every call it sends has a total deadline of ``seconds``.

    A caller that asks for ``stream=True`` gets the response once its headers arrived (within
    the deadline) and reads the body itself.
    """

    def __init__(self, seconds: float, service: str, setting: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = float(seconds)
        self.service = service
        self.setting = setting

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        deadline = Deadline(self.seconds, self.service, self.setting)
        what = describe(request.method, request.url)
        parent = super().send
        if stream:
            return send_within_headers(parent, request, deadline, what, timeout, **kwargs)
        return send_within(lambda **kw: parent(request, **kw), deadline, what, timeout, **kwargs)


def send_within_headers(
    send: Any, request: Any, deadline: Deadline, what: str, timeout: Any, **kwargs: Any
) -> requests.Response:
    """Like :func:`send_within` for a caller that streams the body itself."""
    try:
        return send(request, stream=True, timeout=deadline.cap(timeout), **kwargs)
    except requests.Timeout:
        if deadline.remaining() <= _SLACK:
            raise deadline.exceeded(what) from None
        raise
