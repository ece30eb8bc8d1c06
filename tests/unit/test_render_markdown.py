"""The Markdown plan: one sticky pull-request comment that must stay readable and under GitHub's limit."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from test_render_plans import (
    capture_consuming,
    check_golden,
    empty_plan,
    errored_plan,
    full_plan,
    noop,
    plans,
    remove_old,
    spec,
    update_label,
)

from reconciler.errors import Diagnostic
from reconciler.model import Action, Change, FieldDiff, Plan, Source
from reconciler.render import markdown_summary, markdown_title, md_escape, render_plan_markdown, render_plan_text


def _plan(*changes: Change, **kw: object) -> Plan:
    return Plan(catalog="platform", provider="local", changes=changes, fingerprints={}, desired_digest="d", **kw)  # type: ignore[arg-type]


def big_plan(n: int = 5000) -> Plan:
    """n changes: mostly captures with long labels, every tenth a remove (destructive)."""
    out = []
    for k in range(n):
        if k % 10 == 9:
            out.append(dataclasses.replace(remove_old(), name=f"old-{k:05d}"))
        else:
            label = f"label number {k} " + "x" * 60
            s = spec(f"img-{k:05d}", label=label, family=f"fam-{k % 7}")
            out.append(
                Change(
                    name=s.name,
                    action=Action.CAPTURE,
                    reason="not in the catalog",
                    after=s,
                    fields=(FieldDiff("label", None, label), FieldDiff("source", None, {"vm": "build-web-01"})),
                    steps=("capture image",),
                )
            )
    return _plan(*out)


def test_golden_markdown() -> None:
    check_golden("plan.md", render_plan_markdown(full_plan()))
    check_golden("plan_errored.md", render_plan_markdown(errored_plan()))


def test_summary_line() -> None:
    first = render_plan_markdown(full_plan()).splitlines()[3]  # after the marker and the title
    assert first == (
        "**Plan:** 1 to capture, 1 to update, 1 to replace, 1 to remove"
        " — ⚠️ 3 destructive (1 remove, 1 replace, 1 VM consumed)"
    )
    two = _plan(
        remove_old(), capture_consuming(), update_label(), dataclasses.replace(capture_consuming(), name="b")
    )
    assert markdown_summary(two) == (
        "**Plan:** 2 to capture, 1 to update, 0 to replace, 1 to remove — ⚠️ 3 destructive (1 remove, 2 VMs consumed)"
    )


def test_no_changes() -> None:
    out = render_plan_markdown(empty_plan())
    assert out.startswith(markdown_title(empty_plan()) + "**No changes.**\n")
    assert "<details>" not in out


def test_errors_come_right_after_the_summary() -> None:
    out = render_plan_markdown(errored_plan())
    lines = out.splitlines()[3:]  # after the marker and the title
    assert lines[0].endswith("— ❌ 2 errors: cannot be applied")
    assert lines[2] == "### ❌ Errors: this plan cannot be applied"
    assert out.index("does not exist") < out.index("| Family |") < out.index("| | Image |")
    assert "| `+` capture | ❌ web-base-2026-12 |" in out


def test_tables_and_destructive_first() -> None:
    out = render_plan_markdown(full_plan())
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert [r.split("|")[2].strip() for r in rows] == [
        "web-base-2026-11",
        "db-base-2026-10",
        "web-base-2026-08",
        "web-base-2026-10",
    ]
    assert "⚠️ consumes VM build-web-01" in rows[0] and rows[3].rstrip().endswith("|  |")
    assert "| web-base | 1 | 1 | 0 | 1 | 1 |" in out and "| db-base | 0 | 0 | 1 | 0 | 0 |" in out


def test_details_are_folded_with_a_diff_block() -> None:
    out = render_plan_markdown(full_plan())
    assert out.count("<details><summary>") == 4 == out.count("</details>")
    upd = out[out.index("<b>web-base-2026-10</b>") :]
    assert '```diff\n- label: "a"\n+ label: "b"\n' in upd
    assert '+ type: "os"  # forces replacement' in out
    assert "! consumes VM build-web-01 (deletes the source VM)" in out


def test_user_strings_are_escaped() -> None:
    nasty = "a|b `c` <img src=x onerror=alert(1)> [link](http://e.x) *em*"
    c = dataclasses.replace(update_label(), name=nasty, reason="label | differs")
    out = render_plan_markdown(_plan(c))
    row = next(line for line in out.splitlines() if line.startswith("| `~`"))
    assert row.count(" | ") == 4  # the pipes in the name did not add columns
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "a\\|b \\`c\\`" in row and "\\[link\\]" in row
    assert "label \\| differs" in row
    assert md_escape("x&y") == "x&amp;y"


def test_backticks_in_values_cannot_close_the_diff_fence() -> None:
    c = dataclasses.replace(update_label(), fields=(FieldDiff("label", "```", "````\n# hi"),))
    out = render_plan_markdown(_plan(c))
    assert "`````diff\n" in out  # a fence longer than any run of backticks inside


def test_five_thousand_changes_fit_and_keep_the_summary() -> None:
    plan = big_plan()
    out = render_plan_markdown(plan)
    assert len(out) < 65000
    assert out.splitlines()[3] == markdown_summary(plan)
    assert out.startswith(
        markdown_title(plan) + "**Plan:** 4500 to capture, 0 to update, 0 to replace, 500 to remove — ⚠️ 500 destructive"
    )
    assert "changes' details omitted: run plan locally or see the JSON artifact." in out
    assert "more changes not shown in this table: see the JSON artifact." in out
    # destructive rows come first in what is left of the table
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert rows and all("old-" in r for r in rows[: min(len(rows), 500)])


def test_details_are_dropped_before_table_rows() -> None:
    plan = _plan(*(dataclasses.replace(update_label(), name=f"u{k}") for k in range(40)))
    full = render_plan_markdown(plan, max_chars=10**6)
    assert "<details>" in full
    trimmed = render_plan_markdown(plan, max_chars=len(full) - 200)
    assert len(trimmed) <= len(full) - 200
    assert trimmed.count("| `~` update |") == 40  # every row is still there
    assert "change" in trimmed and "details omitted" in trimmed


@settings(max_examples=60, deadline=None)
@given(plans, st.integers(min_value=300, max_value=4000))
def test_never_longer_than_max_chars(plan: Plan, max_chars: int) -> None:
    out = render_plan_markdown(plan, max_chars=max_chars)
    assert len(out) <= max_chars
    head = markdown_title(plan) + markdown_summary(plan)
    if len(head) <= max_chars:  # the title and summary always come first when they fit at all
        assert out.startswith(head)


def test_tiny_budget_still_bounded() -> None:
    out = render_plan_markdown(full_plan(), max_chars=20)
    assert len(out) <= 20


def test_warnings_are_listed() -> None:
    w = Diagnostic.warning("image 'legacy' is protected: it is kept", "unprotect it first")
    out = render_plan_markdown(_plan(noop(), warnings=(w,)))
    assert "### ⚠️ Warnings" in out and "- image 'legacy' is protected: it is kept — unprotect it first" in out


def test_consumes_vm_names_are_escaped_in_table() -> None:
    c = dataclasses.replace(capture_consuming(), consumes_vm="vm|x", after=spec("z", source=Source(vm="vm|x")))
    row = next(line for line in render_plan_markdown(_plan(c)).splitlines() if line.startswith("| `+`"))
    assert "consumes VM vm\\|x" in row
    assert not re.search(r"[^\\]\|x", row)


def test_title_names_the_catalog_and_provider_and_carries_the_marker() -> None:
    plan = full_plan()
    lines = render_plan_markdown(plan).splitlines()
    assert lines[0] == f"<!-- reconciler:catalog={plan.catalog} -->"
    assert lines[1] == f"### reconciler plan: catalog **{plan.catalog}** ({plan.provider})"
    odd = Plan(**{**plan.__dict__, "catalog": "x --> <b>"})
    assert render_plan_markdown(odd).splitlines()[0] == "<!-- reconciler:catalog=x_--___b_ -->"


def test_a_tag_removal_renders_as_a_removal() -> None:
    c = dataclasses.replace(update_label(), fields=(FieldDiff("tags.cost-center", "42", None),
                                                        FieldDiff("tags.owner", None, "web")))
    md = render_plan_markdown(_plan(c))
    assert '- tags.cost-center: "42"\n' in md and "null" not in md
    assert '+ tags.owner: "web"\n' in md and '- tags.owner' not in md
    text = render_plan_text(_plan(c))
    assert '- tags.cost-center: "42"' in text and "null" not in text
    assert '+ tags.owner: "web"' in text
