"""Fault injection for the classic emulator: queued faults (``throttle(n)`` ...) and the shared rates.

Layer: emulator. The per-request probabilities and their checks are the shared loopback base's
(``emulators/base.py``), with the ARM emulator's names; the queued, path-matched faults are the classic
emulator's own. The answers' wording (XML ``<Error>``) is the server's (``server.py``).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from ..base import FaultDice, names_value, rate_value


@dataclass
class Fault:
    kind: str
    remaining: int
    method: str | None
    path: str | None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path or re.search(self.path, path) is not None


class Faults:
    """Fault injection, shaped like the ARM emulator's. ``path`` is a regex searched in the URL path.

    ``op_polls``: an async operation answers InProgress until its ``op_polls``-th poll (default 2:
    §11.2, complete on the second poll). ``op_seconds``: and at least that long on the emulator's
    clock. Every injected fault counts down and disappears after ``n`` uses.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._dice = FaultDice(rng or random.Random(0))
        self.op_polls = 2
        self.op_seconds = 0.0
        self.latency_seconds = 0.0
        #: Per-request probabilities (the ARM emulator's model), drawn from the seeded generator.
        self.rates: dict[str, float] = {"throttle": 0.0, "server_error": 0.0, "drop": 0.0}
        self.retry_after = 1
        #: Image names (casefolded) whose next asynchronous operation ends Failed.
        self.fail_names: set[str] = set()

    def update(self, data: dict[str, Any]) -> None:
        """Set faults from a JSON object with the ARM emulator's names (``POST /_emulator/faults``).

        ``throttle``/``server_error``/``drop``: probabilities; ``latency``: seconds; ``lro_polls``:
        polls answered InProgress (``op_polls`` is the poll that completes, so ``lro_polls + 1``);
        ``lro_seconds``/``op_seconds``; ``retry_after``; ``fail_operations``: image names. Unknown
        names or wrong types raise ValueError and change nothing.
        """
        staged: dict[str, Any] = {}
        for key, value in data.items():
            if key == "fail_operations":
                staged[key] = {v.casefold() for v in names_value(value, "image")}
                continue
            number = rate_value(key, value)
            if key not in self.rates and key not in (
                "latency", "lro_polls", "op_polls", "lro_seconds", "op_seconds", "retry_after"
            ):
                raise ValueError(f"unknown fault {key!r}")
            staged[key] = number
        for key, value in staged.items():
            if key in self.rates:
                self.rates[key] = float(value)
            elif key == "latency":
                self.latency_seconds = float(value)
            elif key == "lro_polls":
                self.op_polls = int(value) + 1
            elif key == "op_polls":
                self.op_polls = int(value)
            elif key in ("lro_seconds", "op_seconds"):
                self.op_seconds = float(value)
            elif key == "retry_after":
                self.retry_after = int(value)
            else:
                self.fail_names = set(value)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.rates, "latency": self.latency_seconds, "lro_polls": max(self.op_polls - 1, 0),
            "op_polls": self.op_polls, "lro_seconds": self.op_seconds, "retry_after": self.retry_after,
            "fail_operations": sorted(self.fail_names),
            "queued": [{"kind": r.kind, "remaining": r.remaining, "method": r.method, "path": r.path}
                       for r in self._rules],
        }

    def _add(self, kind: str, n: int, method: str | None, path: str | None, **params: Any) -> None:
        with self._lock:
            self._rules.append(Fault(kind, n, method, path, params))

    def throttle(self, n: int = 1, *, retry_after: int = 1, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests get 429 with ``Retry-After``."""
        self._add("throttle", n, method, path, retry_after=retry_after)

    def server_error(
        self, n: int = 1, *, status: int = 503, code: str = "ServerBusy", method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` matching requests get a 5xx ``<Error>`` (503 ServerBusy by default)."""
        self._add("server_error", n, method, path, status=status, code=code)

    def drop(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests are read, then the connection is closed unanswered."""
        self._add("drop", n, method, path)

    def fail_operations(
        self, n: int = 1, *, code: str = "InternalError", message: str = "The operation failed (injected).",
        status: int = 500,
    ) -> None:
        """The next ``n`` asynchronous operations end ``Failed`` with this error (no effect applied)."""
        self._add("fail_operation", n, None, None, code=code, message=message, status=status)

    def latency(self, seconds: float) -> None:
        """Every response waits ``seconds`` (with the emulator's ``sleep``) before it is sent."""
        self.latency_seconds = seconds

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        self.op_polls, self.op_seconds, self.latency_seconds = 2, 0.0, 0.0

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> Fault | None:
        """The first matching queued fault of one of ``kinds`` (consumed once), else a random one."""
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule
            kind = self._dice.first(self.rates, kinds)
            if kind is not None:
                params: dict[str, Any] = {"retry_after": self.retry_after, "status": 503, "code": "ServerBusy"}
                return Fault(kind, 1, None, None, params)
        return None
