"""Issue 12 §3: apply output without a terminal, and the Ctrl-C messages; each test failed before its fix."""

from __future__ import annotations

import re

from reconciler.cli.progress import LineHooks
from reconciler.model import Action, Change, ChangeResult, Outcome


def test_line_hooks_write_one_line_per_state_change_with_a_utc_stamp(capsys):
    change = Change(name="db", action=Action.UPDATE, reason="label differs")
    hooks = LineHooks()
    hooks.started(change)
    hooks.step(change, "update")  # the provider only repeats what the change does
    hooks.step(change, "polling (1)")
    hooks.step(change, "polling (1)")
    hooks.finished(change, ChangeResult("db", Action.UPDATE, Outcome.DONE, seconds=0.5), None)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "~ db: update started", "~ db: polling (1)", "~ db: update done in 0.5s"]
    assert all(re.match(r"^\d\d:\d\d:\d\dZ ", line) for line in lines), lines


def test_the_report_after_a_logged_apply_does_not_list_the_changes_again():
    from reconciler.model import ApplyResult
    from reconciler.render import render_apply_report

    result = ApplyResult(results=(
        ChangeResult("a", Action.UPDATE, Outcome.DONE, seconds=0.1),
        ChangeResult("b", Action.CAPTURE, Outcome.FAILED, error="boom"),
        ChangeResult("c", Action.REMOVE, Outcome.NOT_STARTED),
    ))
    full = render_apply_report(result)
    assert "update a: done" in full
    logged = render_apply_report(result, logged=True)
    assert "update a" not in logged and "capture b: failed: boom" in logged and "remove c: not started" in logged
    assert logged.endswith("Apply finished: 1 done, 1 failed, 1 not started.\n")
