"""Errors and diagnostics: the project's own exception types and the user-facing message record.

Layer: pure data. Imports nothing outside the standard library. Providers translate every remote
failure into ``ProviderError`` here, once; the ``cli`` package is the only place that renders and
exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """Where a problem is: 1-based ``line``/``col`` (0 = unknown) and the JSON path (``$.images[2].name``)."""

    file: str = ""
    line: int = 0
    col: int = 0
    json_path: str = ""

    def __str__(self) -> str:
        if not self.file:
            return ""
        if self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file


@dataclass(frozen=True)
class Diagnostic:
    """One message for the user: ``summary`` says what is wrong, ``hint`` what to do about it."""

    severity: Severity
    summary: str
    hint: str = ""
    location: Location | None = None
    code: str = ""

    @classmethod
    def error(cls, summary: str, hint: str = "", location: Location | None = None, code: str = "") -> Diagnostic:
        return cls(Severity.ERROR, summary, hint, location, code)

    @classmethod
    def warning(cls, summary: str, hint: str = "", location: Location | None = None, code: str = "") -> Diagnostic:
        return cls(Severity.WARNING, summary, hint, location, code)

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location or Location()
        return (loc.file, loc.line, loc.col, self.summary)


class ReconcilerError(Exception):
    """Base of every error the command line reports as a message (exit 1) rather than a crash."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> list[Diagnostic]:
        return [Diagnostic.error(self.message, self.hint)]


class SpecError(ReconcilerError):
    """The desired-state file (or a seed file) is invalid; carries every problem found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self._diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        n = len(self._diagnostics)
        super().__init__(f"{n} error{'s' if n != 1 else ''} in the desired-state file")

    def diagnostics(self) -> list[Diagnostic]:
        return list(self._diagnostics)


#: The ``ProviderError`` codes this program coins (not a service's): kept in the diagnostic's
#: ``code`` (JSON), never shown as a ``Code:`` prefix of the message, which says it in words.
OWN_CODES = frozenset({
    "AlreadyExists", "AmbiguousVM", "AuthenticationFailed", "BadResponse", "Busy", "CatalogNotFound", "Config",
    "ConnectionError", "CorruptCatalog", "EmptyCatalog", "ForeignCatalog", "ForeignURL", "IOError", "InvalidSeed",
    "InvalidSource", "OperationTimeout", "ReadOnlyCatalog", "RequestError", "TLSError", "UnsupportedCatalogVersion",
})


class ProviderError(ReconcilerError):
    """A provider operation failed. ``retryable``: the transport may try again (429, 5xx, I/O).

    ``status`` is the HTTP status (0 when not HTTP); ``code`` the service's error code
    (``ResourceNotFound``, ``OperationNotAllowed``, ...); ``request_id`` the service's request or
    correlation id for a support ticket; ``retry_after`` the seconds the answer's ``Retry-After``
    asked for (None when it had none), so a caller with a deadline may decide to wait that long.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        request_id: str = "",
        retryable: bool = False,
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.code and self.code not in OWN_CODES:  # a service's code (Azure's), worth searching for
            parts.insert(0, f"{self.code}:")
        if self.status:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"[request id {self.request_id}]")
        return " ".join(parts)

    def diagnostics(self) -> list[Diagnostic]:
        return [Diagnostic.error(str(self), self.hint, code=self.code)]


class OperationFailed(ProviderError):
    """A long-running operation ended Failed or Canceled: terminal, never retried."""


class OperationTimeout(ProviderError):
    """A long-running operation did not finish before its deadline."""


class NotFound(ProviderError):
    """The named image or VM does not exist in the catalog."""


class RefusedError(ProviderError):
    """A write the safety rules forbid (``reconciler.rules``), refused before anything changed.

    ``code`` is the rule's stable refusal code (``public``, ``unowned``, ``protected``, ...), the
    same for every provider and the same the planner's diagnostic carries; ``status`` is 409.
    """

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message, status=409, code=code, hint=hint)


class StalePlanError(ReconcilerError):
    """A saved plan no longer matches the live catalog or the desired-state file."""


class PlanFileError(ReconcilerError):
    """A saved plan file is truncated, edited, of another format or from another catalog."""


class LockError(ReconcilerError):
    """The catalog lock could not be taken (held by someone else) or released."""

    def __init__(self, message: str, hint: str = "", holder: dict[str, str] | None = None) -> None:
        super().__init__(message, hint)
        self.holder = holder or {}


class ConfirmationRefused(ReconcilerError):
    """Apply was not approved."""
