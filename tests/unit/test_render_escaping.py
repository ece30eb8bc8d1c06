"""Issue 8, item 12: what a pull request (or anyone who can label a live image) puts in front of a reviewer.

Bidi controls (Trojan Source, CVE-2021-42574), other control characters, zero-width and separator
characters must reach no human output as they are: every output shows them as a visible escape
(``\\u202e``, ``\\x00``), and every output is checked character by character. JSON output is
JSON-escaped (ASCII only). Markdown structure (table, fence, ``<details>``) survives hostile text.
"""

from __future__ import annotations

import json
import re
import unicodedata

from planning import CAPS, desired, image, spec, vm

from reconciler.errors import Diagnostic, Location
from reconciler.model import Action, ApplyResult, ChangeResult, Outcome, Plan, Snapshot
from reconciler.plan import make_plan
from reconciler.planfile import dump_plan
from reconciler.render import (
    render_apply_report,
    render_diagnostics_github,
    render_diagnostics_text,
    render_families,
    render_images_table,
    render_plan_json,
    render_plan_markdown,
    render_plan_text,
)

#: Control (C0, DEL, C1), format (bidi, zero-width), surrogate, private-use, unassigned, separators.
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "Web base \u202e1102 rebmevoN" reads "Web base November 2011"


def raw_unsafe(text: str) -> list[str]:
    """Every character of ``text`` a reviewer could not see or that reorders what they see."""
    return [
        f"U+{ord(c):04X} at {k}"
        for k, c in enumerate(text)
        if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES
    ]


def hostile_plan() -> Plan:
    """A capture from the file, an update and a remove whose text comes from the live catalog."""
    wanted = (
        spec(
            "web-base-2026-11",
            label=f"Web base {RLO}1102 rebmevoN",
            description="nginx\u2066 + hardening\u200b",
            tags={"team": f"w{RLO}eb"},
        ),
        spec("web-base-2026-10", label="a"),
    )
    live = (
        image("web-base-2026-10", label=f"evil{RLO}\x00\x1b[2J", source=wanted[1].source),
        image(
            "old-2026-01",
            label=f"{RLO}old",
            description="x\x85y\u2028z\ufeff",
            family="web\u2067",
            tags={"k\u200d": "v\x7f"},
        ),
    )
    vms = (vm("vm-web-base-2026-11"), vm("vm-web-base-2026-10"))
    return make_plan(desired(*wanted, prune=True), Snapshot(live, vms), CAPS)


def test_the_hostile_plan_has_each_kind_of_change() -> None:
    actions = {c.name: c.action for c in hostile_plan().changes}
    assert actions == {
        "web-base-2026-11": Action.CAPTURE,
        "web-base-2026-10": Action.UPDATE,
        "old-2026-01": Action.REMOVE,
    }


def test_text_plan_shows_bidi_and_control_characters_escaped() -> None:
    out = render_plan_text(hostile_plan(), verbose=True)
    assert raw_unsafe(out) == []
    assert '"Web base \\u202e1102 rebmevoN"' in out  # the capture's label, from the file
    assert '"evil\\u202e\\u0000\\u001b[2J" -> "a"' in out  # the live label (JSON escapes C0 itself)
    assert "\\u202eold" in out and "\\x85y\\u2028z\\ufeff" in out and "web\\u2067" in out
    assert '"v\\x7f"' in out and "\\u200d" in out


def test_markdown_plan_shows_bidi_and_control_characters_escaped() -> None:
    out = render_plan_markdown(hostile_plan())
    assert raw_unsafe(out) == []
    assert '"Web base \\u202e1102 rebmevoN"' in out  # inside the diff fence: shown as it is
    assert '"evil\\u202e\\u0000\\u001b[2J"' in out
    row = next(line for line in out.splitlines() if line.startswith("| web") and "\\\\u2067" in line)
    assert row.startswith("| web\\\\u2067 |")  # a table cell: the backslash itself escaped for Markdown


def test_json_plan_and_saved_plan_are_ascii_with_json_escapes() -> None:
    plan = hostile_plan()
    for text in (json.dumps(render_plan_json(plan), indent=2), dump_plan(plan, created="now").decode("ascii")):
        assert text.isascii() and raw_unsafe(text) == []
        assert "\\u202e" in text and "\\u2028" in text and "\\u0000" in text
        assert json.loads(text)  # and it is still JSON that reads back the exact strings
    doc = json.loads(json.dumps(render_plan_json(plan)))
    labels = {c["name"]: (c["after"] or c["before"])["label"] for c in doc["resource_changes"]}
    assert labels["web-base-2026-11"] == f"Web base {RLO}1102 rebmevoN"


def _outside_fences(md: str) -> str:
    """The Markdown with every fenced code block cut out (its content is shown literally)."""
    kept, fence = [], None
    for line in md.splitlines():
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and line.startswith(fence) and set(line.strip()) == {"`"}:
            fence = None
        elif fence is None:
            kept.append(line)
    assert fence is None, "a fence was left open"
    return "\n".join(kept)


def test_markdown_structure_survives_pipes_newlines_and_html_in_user_text() -> None:
    evil = "a | b\n</details>\n<!-- hidden\n```\n`x`"
    wanted = (spec("web-base-2026-11", description=evil, label="l|r"),)
    live = (image("old-2026-01", family="fam|x\n</details><!--", description=evil),)
    plan = make_plan(desired(*wanted, prune=True), Snapshot(live, (vm("vm-web-base-2026-11"),)), CAPS)
    out = render_plan_markdown(plan)
    assert raw_unsafe(out) == []
    outside = _outside_fences(out)
    # Every <details> closes once, and nothing user-written opens or closes one, or a comment.
    assert outside.count("<details>") == outside.count("</details>") == len(plan.pending) == 2
    assert outside.count("<!--") == 1 and out.startswith("<!-- reconciler:catalog=")  # only the marker
    # Table rows stay one line each, with exactly their columns (user pipes are escaped).
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(rows) == 2
    assert all(len(re.findall(r"(?<!\\)\|", r)) == 6 for r in rows)
    fam = next(line for line in out.splitlines() if line.startswith("| fam"))
    assert len(re.findall(r"(?<!\\)\|", fam)) == 7  # Family + 5 counts + Unchanged
    assert "fam\\|x\\\\x0a&lt;/details&gt;&lt;!--" in fam  # the line break is shown, not taken
    # The description is inside the diff fence, on one line, JSON-quoted.
    assert '+ description: "a | b\\n</details>\\n<!-- hidden\\n```\\n`x`"' in out


def test_diagnostics_quote_values_escaped_in_text_and_annotations() -> None:
    loc = Location("images.yaml", 7, 11, f"$.images[1].tags['\x00x{RLO}']")
    diags = [
        Diagnostic.error(f"duplicate image name 'web{RLO}base' (first declared on line 5)", f"rename {RLO}it", loc),
        Diagnostic.warning("two\nlines\u2028here", "hint\x1b[31m"),
    ]
    text = render_diagnostics_text(diags)
    assert raw_unsafe(text) == []
    assert "duplicate image name 'web\\u202ebase'" in text and "$.images[1].tags['\\x00x\\u202e']" in text
    gh = render_diagnostics_github(diags)
    assert raw_unsafe(gh) == [] and len(gh.splitlines()) == 2
    assert "web\\u202ebase" in gh and "two%0Alines\\u2028here" in gh and "hint\\x1b[31m" in gh


def test_images_list_families_and_apply_report_escape_live_text() -> None:
    images = [image(f"web{RLO}01", family=f"fam{RLO}", owner="own\u2066er", created="2026\x00")]
    for out in (render_images_table(images), render_families(images)):
        assert raw_unsafe(out) == [] and "\\u202e" in out
    result = ApplyResult(
        results=(
            ChangeResult(f"web{RLO}01", Action.REMOVE, Outcome.FAILED, error=f"provider said {RLO}no\n", seconds=1),
        )
    )
    out = render_apply_report(result)
    assert raw_unsafe(out) == [] and "remove web\\u202e01: failed: provider said \\u202eno\\x0a" in out


def test_escape_controls_leaves_ordinary_text_alone_and_escapes_the_rest() -> None:
    from reconciler.render import escape_controls

    for ordinary in ("Web base, November 2026", "Ünïcödé 日本語 عربي ⚠️ 👍", "a\u00a0b", ""):
        assert escape_controls(ordinary) == ordinary
    assert escape_controls(f"a{RLO}b\x00\x7f\x9b\u200b\u2029\U000e0041\ud800") == (
        "a\\u202eb\\x00\\x7f\\x9b\\u200b\\u2029\\U000e0041\\ud800"
    )
    assert escape_controls("a\nb\tc\rd", multiline=True) == "a\nb\tc\\x0dd"
    assert escape_controls("a\nb\tc") == "a\\x0ab\\x09c"
