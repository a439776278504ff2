"""What a failed Slack call means: stop for this run, a configuration problem, maybe delivered.

:func:`classify` turns an exception of ``slack_sdk`` into a :class:`SlackProblem`. Texts name
the Slack error code and say how to fix it, and never contain the token or the request URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.client import HTTPException
from urllib.error import URLError

from slack_sdk.errors import SlackApiError, SlackClientError

# Slack's answers to a token it does not accept (HTTP 200, ok: false)
AUTH_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_auth": (
        "Slack rejected the token (invalid_auth): it is not a valid token of this workspace",
        "set SFSYNC_SLACK_TOKEN to the Bot User OAuth Token (xoxb-…) shown on your Slack "
        "app's OAuth & Permissions page",
    ),
    "not_authed": (
        "Slack received no token (not_authed)",
        "set SFSYNC_SLACK_TOKEN to the Bot User OAuth Token (xoxb-…) of your Slack app",
    ),
    "account_inactive": (
        "Slack rejected the token (account_inactive): its user or workspace is deactivated, "
        "or the app was removed",
        "reinstall the Slack app to the workspace and set SFSYNC_SLACK_TOKEN to its new bot token",
    ),
    "token_revoked": (
        "Slack rejected the token (token_revoked): the token was revoked, e.g. the app was "
        "uninstalled",
        "reinstall the Slack app to the workspace and set SFSYNC_SLACK_TOKEN to its new bot token",
    ),
    "token_expired": (
        "Slack rejected the token (token_expired): token rotation is on and it expired",
        "turn token rotation off for the app and set SFSYNC_SLACK_TOKEN to a non-expiring bot "
        "token",
    ),
}


@dataclass(frozen=True)
class SlackProblem:
    """One failed call.

    ``unavailable``: Slack as a whole cannot be used now (outage, sustained 429, rejected
    token): stop calling it for the rest of the run. ``maybe_delivered``: no answer came, so a
    message sent by the call may have been posted. ``config``: the token is rejected (a
    configuration error with ``fix``).
    """

    message: str
    code: str | None = None
    unavailable: bool = False
    maybe_delivered: bool = False
    config: bool = False
    fix: str = ""

    def text(self) -> str:
        """The message with its fix, for a note or a log line."""
        return f"{self.message}; fix: {self.fix}" if self.fix else self.message


def auth_problem(code: str) -> SlackProblem:
    """The configuration problem of a rejected token."""
    message, fix = AUTH_ERRORS[code]
    return SlackProblem(message, code, unavailable=True, config=True, fix=fix)


def classify(exc: BaseException) -> SlackProblem:
    """What ``exc`` from a Slack Web API call means."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None)
        code = response.get("error") if hasattr(response, "get") else None
        if code in AUTH_ERRORS:
            return auth_problem(code)
        if status == 429:
            return SlackProblem(
                "Slack kept answering 429 (rate limited) after waiting the Retry-After it sent",
                code or "ratelimited",
                unavailable=True,
            )
        if status is None or status >= 500:
            return SlackProblem(
                f"Slack is unavailable: HTTP {status}, {code or 'no error code'}",
                code,
                unavailable=True,
                maybe_delivered=True,
            )
        if status >= 400:
            return SlackProblem(
                f"Slack answered HTTP {status} ({code or 'no error code'}); check slack.base_url",
                code,
                unavailable=True,
            )
        needed = response.get("needed") if hasattr(response, "get") else None
        detail = f" (the app needs the scope {needed})" if needed else ""
        return SlackProblem(f"Slack answered {code or 'ok: false'}{detail}", code)
    if isinstance(exc, URLError | OSError | HTTPException | SlackClientError):
        reason = getattr(exc, "reason", None) or exc
        refused = isinstance(reason, ConnectionRefusedError)
        if isinstance(reason, str):
            desc = reason
        else:
            desc = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        return SlackProblem(
            f"Slack is unreachable: {desc}",
            None,
            unavailable=True,
            maybe_delivered=not refused,
        )
    return SlackProblem(f"Slack call failed: {type(exc).__name__}", None, unavailable=True)
