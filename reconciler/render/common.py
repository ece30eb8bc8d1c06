"""What every view of ``render`` shares: terminal colours, counted words, plan order, provider wording.

Layer: pure core (views), like the rest of the package.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Action, Change
from ..plandoc import is_destructive

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_BOLD_RED = "\x1b[1;31m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_MAGENTA = "\x1b[35m"
_ACTION_COLOR = {
    Action.CAPTURE: _GREEN,
    Action.UPDATE: _YELLOW,
    Action.REMOVE: _RED,
    Action.REPLACE: _MAGENTA,
    Action.NOOP: "",
}


def consumes_wording(provider: str) -> str:
    """What a generalized capture does to its source VM with this provider, for display (design §2):
    the provider's ``Capabilities.consumes_vm``. The plan records only the VM's name, not the
    provider's capability record, so the wording is the registry's, by provider name."""
    from ..providers.registry import consumes_wording as wording  # late: a lookup of declared data

    return wording(provider)


def destructive_first(changes: Iterable[Change]) -> list[Change]:
    """Destructive changes first, then the rest, each group in plan order (stable)."""
    items = list(changes)
    return [c for c in items if is_destructive(c)] + [c for c in items if not is_destructive(c)]


def shown_steps(c: Change) -> tuple[str, ...]:
    """The steps a view lists for ``c``: a sequence, or a lone step that says more than the action
    (``update definition web-base`` on an ``~ update``, issue 10 §2); a lone ``<action> image``
    only repeats the action, and a no-op runs nothing."""
    if c.action is Action.NOOP or not c.steps:
        return ()
    if len(c.steps) == 1 and c.steps[0] == f"{c.action.word} image":
        return ()
    return c.steps


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _paint(s: str, code: str, color: bool) -> str:
    return f"{code}{s}{_RESET}" if color and code else s


__all__ = ["consumes_wording", "destructive_first", "shown_steps"]
