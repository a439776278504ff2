"""The exception hierarchy of sfsync.

One root, :class:`SfsyncError`. Subclasses say *who can fix it* and *whether retrying
helps*; the CLI turns any ``SfsyncError`` into ``Error: <message>`` and an exit code.
Messages say what is wrong and how to fix it, and never contain secrets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ExitCode:
    """Process exit codes, documented for schedulers (README, "Exit codes")."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    ROW_FAILURES = 3  # the run finished, but some records failed and will be retried next run
    LOCKED = 4  # another run of the same job holds the lock
    # stopped by a signal: 128 + the signal number, as a shell reports a process it killed
    SIGINT = 130  # Ctrl-C
    SIGTERM = 143  # timeout, systemd, Kubernetes, docker stop


class SfsyncError(Exception):
    """Root of every error sfsync raises on purpose."""

    exit_code: int = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one configuration file: where it is and what is wrong."""

    file: str
    path: str  # dotted key path inside the file, e.g. "fields.health_score.type"; "" = whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ConfigError(SfsyncError):
    """Configuration the user can fix: YAML files, environment variables, CLI arguments.

    Carries every problem found, so that all of them are reported at once.
    """

    def __init__(self, problems: Iterable[ConfigProblem] | str, *, hint: str | None = None):
        if isinstance(problems, str):
            problems = [ConfigProblem(file="configuration", path="", message=problems)]
        self.problems: list[ConfigProblem] = list(problems)
        if len(self.problems) == 1:
            message = str(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{len(self.problems)} configuration problems:\n{lines}"
        super().__init__(message, hint=hint)


class InputDataError(SfsyncError):
    """Input rows that cannot be used (bad CSV, too many quarantined rows)."""


class GuardError(SfsyncError):
    """A guard found tonight's input or output far from normal: the run stopped before writing."""


class SourceError(SfsyncError):
    """An extraction source (Metabase, SQL, files, Salesforce reads) failed."""


class SyncError(SfsyncError):
    """Writing to Salesforce failed as a whole (not a single record)."""


class ApiLimitError(SyncError):
    """Salesforce REQUEST_LIMIT_EXCEEDED or the remaining daily requests fell below the reserve."""


class AuthError(SfsyncError):
    """Authentication with an external service failed."""


class LockedError(SfsyncError):
    """Another run of the same job holds the run lock."""

    exit_code = ExitCode.LOCKED


class RunInterrupted(BaseException):
    """The process was told to stop (SIGTERM, SIGINT) in the middle of a command.

    Raised in the main thread by the handlers of :func:`sfsync.interrupt.stop_on_signals`, so
    the run's ``except``/``finally`` paths record it as failed, alert and release the lock.
    A ``BaseException`` like ``KeyboardInterrupt``: the ``except Exception`` of retry loops and
    of "never fail the run" notification code must not swallow it. The CLI prints ``Error:``
    with the message and exits with ``exit_code`` (128 + the signal number).
    """

    def __init__(self, signal_name: str, exit_code: int) -> None:
        self.signal_name = signal_name
        self.exit_code = exit_code
        self.message = f"stopped by {signal_name}"
        self.hint = (
            "the run stopped before it finished; what it wrote is kept and the next run "
            "completes the rest"
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class Retriable(Exception):
    """Marker mixin: raising a subclass means "transient, retrying may succeed"."""


class TransientError(SfsyncError, Retriable):
    """A transient failure (5xx, connection reset, lock contention). Retried by policy."""
