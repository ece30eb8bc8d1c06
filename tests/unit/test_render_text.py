"""Text views: the plan for a terminal, diagnostics, image listings, the apply report."""

from __future__ import annotations

import dataclasses
import re

import pytest
from test_render_plans import (
    LOC,
    capture_consuming,
    check_golden,
    empty_plan,
    errored_plan,
    full_plan,
    image,
    noop,
    remove_old,
    update_label,
)

from reconciler.errors import Diagnostic, Location, ReconcilerError
from reconciler.model import (
    Action,
    ApplyResult,
    Category,
    Change,
    ChangeResult,
    ImageType,
    Outcome,
    Plan,
)
from reconciler.render import (
    apply_report_json,
    families_json,
    filter_images,
    render_apply_report,
    render_diagnostics_github,
    render_diagnostics_json,
    render_diagnostics_text,
    render_families,
    render_images_json,
    render_images_table,
    render_plan_text,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plan(*changes: Change, **kw: object) -> Plan:
    return Plan(catalog="platform", provider="local", changes=changes, fingerprints={}, desired_digest="d", **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Plan text


def test_plan_text_golden() -> None:
    check_golden("plan.txt", render_plan_text(full_plan()))


def test_plan_text_verbose_and_color_golden() -> None:
    check_golden("plan_verbose_color.txt", render_plan_text(full_plan(), color=True, verbose=True))


def test_errored_plan_text_golden() -> None:
    check_golden("plan_errored.txt", render_plan_text(errored_plan()))


def test_destructive_changes_come_first_then_plan_order() -> None:
    # Plan order is update, capture (consumes a VM), no-op, replace, remove.
    text = render_plan_text(full_plan())
    body = text.split("Reconciler will perform the following actions:")[1]
    names = [line.split()[2] for line in body.splitlines() if re.match(r"^ *(\+|~|-|-/\+) [a-z]+ \S+ \(", line)]
    assert names == ["web-base-2026-11", "db-base-2026-10", "web-base-2026-08", "web-base-2026-10"]


def test_header_shape_and_field_lines() -> None:
    text = render_plan_text(full_plan())
    assert "  + capture web-base-2026-11 (vm, linux, generalized) — not in the catalog\n" in text
    assert '      label: "a" -> "b"\n' in text
    assert '      type: "vm" -> "os"  # forces replacement\n' in text
    assert "      ! consumes VM build-web-01 (deletes the source VM)\n" in text
    assert "        1. deallocate VM build-web-01\n" in text


def test_an_update_whose_one_step_is_a_definition_update_shows_it_in_text_and_markdown() -> None:
    # issue 10 §2: a no-op version whose family's description differs becomes ``~ update`` with the
    # lone step ``update definition web-base``: unlike a lone ``update image`` it says more than the action.
    from reconciler.model import FieldDiff
    from reconciler.render import render_plan_markdown

    fam = dataclasses.replace(update_label(), reason="definition web-base: description differs",
                    fields=(FieldDiff("families.web-base.description", "old", "new"),),
                    steps=("update definition web-base",))
    text = render_plan_text(_plan(fam))
    shown = '      families.web-base.description: "old" -> "new"\n      steps:\n        1. update definition web-base\n'
    assert shown in text
    md = render_plan_markdown(_plan(fam))
    assert '+ families.web-base.description: "new"\n\n  step 1: update definition web-base\n' in md
    both = dataclasses.replace(fam, steps=("update definition web-base", "update image"))
    assert "        1. update definition web-base\n        2. update image\n" in render_plan_text(_plan(both))
    # A lone ``update image`` only repeats the action: no steps listed, in either view.
    assert "steps:" not in render_plan_text(_plan(update_label()))
    assert "step 1:" not in render_plan_markdown(_plan(update_label()))


def test_consumes_wording_follows_the_provider() -> None:
    plan = Plan("platform", "azure", (capture_consuming(),), {}, "d")
    assert "! consumes VM build-web-01 (leaves the source VM generalized and unusable)" in render_plan_text(plan)


def test_a_capture_flagged_only_by_consumes_vm_is_still_destructive_first() -> None:
    # A planner that forgot the destructive flag must not get a VM-consuming capture listed last.
    sneaky = dataclasses.replace(capture_consuming(), destructive=False)
    text = render_plan_text(_plan(update_label(), sneaky))
    assert text.index("capture web-base-2026-11") < text.index("update web-base-2026-10")


def test_legend_lists_only_symbols_used() -> None:
    text = render_plan_text(_plan(update_label()))
    legend = text.split("Reconciler will perform")[0]
    assert "  ~ update in place" in legend
    assert "capture" not in legend and "remove" not in legend and "-/+" not in legend


def test_footer_counts() -> None:
    text = render_plan_text(full_plan())
    assert text.rstrip("\n").splitlines()[-1] == "Plan: 1 to capture, 1 to update, 1 to replace, 1 to remove."


def test_no_changes() -> None:
    text = render_plan_text(empty_plan())
    assert text.startswith("No changes. The catalog matches the desired state.")
    assert "3 unchanged." in text
    assert "Plan:" not in text
    assert "  a (" not in text


def test_no_changes_verbose_lists_no_ops() -> None:
    text = render_plan_text(empty_plan(), verbose=True)
    assert text.startswith("No changes.")
    for name in "abc":
        assert f"    {name} (vm, linux, generalized) — up to date" in text
    assert "unchanged." not in text


def test_errored_plan_lists_errors_and_refuses() -> None:
    text = render_plan_text(errored_plan())
    assert "error: source VM 'ghost' of image 'web-base-2026-12' does not exist" in text
    assert "at images.yaml:12:5, $.images[0].source.vm" in text
    assert "hint: fix source.vm, or create the VM before applying" in text
    assert "error: --target 'nope' matches no declared image" in text
    assert text.rstrip().endswith("The plan has 2 errors and cannot be applied: fix them and run plan again.")
    assert not text.startswith("No changes.")


def test_errored_noop_is_shown_even_without_verbose() -> None:
    err = Diagnostic.error("image 'x' exists but is not owned by catalog 'platform'", "run reconciler import x")
    bad = dataclasses.replace(noop("x"), errors=(err,), reason=err.summary)
    text = render_plan_text(_plan(bad))
    assert "    x (vm, linux, generalized) — image 'x' exists but is not owned" in text
    assert "hint: run reconciler import x" in text
    assert "cannot be applied" in text
    assert "No changes." not in text


def test_no_ansi_without_color_and_ansi_with() -> None:
    assert not ANSI.search(render_plan_text(full_plan(), verbose=True))
    colored = render_plan_text(full_plan(), color=True)
    assert "\x1b[32m  +\x1b[0m" in colored  # green capture
    assert "\x1b[33m  ~\x1b[0m" in colored  # yellow update
    assert "\x1b[31m  -\x1b[0m" in colored  # red remove
    assert "\x1b[35m-/+\x1b[0m" in colored  # magenta replace
    assert "\x1b[1;31m! consumes VM build-web-01" in colored  # bold red destructive
    assert ANSI.sub("", colored) == render_plan_text(full_plan())


def test_control_characters_in_user_strings_are_escaped() -> None:
    evil = dataclasses.replace(remove_old(), name="evil\x1b[2Jname", reason="bye\x07")
    text = render_plan_text(_plan(evil))
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b[2Jname" in text


def test_targets_are_announced() -> None:
    assert render_plan_text(errored_plan()).startswith("Limited to --target nope, web-base-2026-12:")


# --------------------------------------------------------------------------------------------------
# Diagnostics

DIAGS = [
    Diagnostic.error("unknown field 'lable'", "did you mean 'label'?", LOC, code="schema"),
    Diagnostic.warning("family 'x' has one image", "", Location(file="images.yaml", line=3, col=0)),
    Diagnostic.error("catalog unreachable: 50% done, retry\nlater", "check the endpoint, then retry"),
    Diagnostic.error("a:b,c", "", Location(file="dir,with:odd%name.yaml", line=7, col=2, json_path="$.x")),
]


def test_diagnostics_text_golden() -> None:
    check_golden("diagnostics.txt", render_diagnostics_text(DIAGS))


def test_diagnostics_text_shape() -> None:
    lines = render_diagnostics_text(DIAGS).splitlines()
    assert lines[0] == "images.yaml:12:5: error: unknown field 'lable'"
    assert lines[1] == "  at $.images[0].source.vm"
    assert lines[2] == "  hint: did you mean 'label'?"
    assert lines[3] == "images.yaml:3:1: warning: family 'x' has one image"
    assert lines[4] == "error: catalog unreachable: 50% done, retry\\x0alater"
    assert lines[-1] == "3 errors, 1 warning."
    assert render_diagnostics_text([]) == "0 errors, 0 warnings.\n"


def test_diagnostics_text_color() -> None:
    out = render_diagnostics_text(DIAGS[:2], color=True)
    assert "\x1b[31merror\x1b[0m" in out and "\x1b[33mwarning\x1b[0m" in out
    assert ANSI.sub("", out) == render_diagnostics_text(DIAGS[:2])


def test_diagnostics_json() -> None:
    doc = render_diagnostics_json(DIAGS)
    assert doc["valid"] is False
    assert (doc["error_count"], doc["warning_count"]) == (3, 1)
    assert doc["diagnostics"][0] == {
        "severity": "error",
        "summary": "unknown field 'lable'",
        "hint": "did you mean 'label'?",
        "location": {"file": "images.yaml", "line": 12, "col": 5, "json_path": "$.images[0].source.vm"},
        "code": "schema",
    }
    assert doc["diagnostics"][2]["location"] is None
    assert render_diagnostics_json([DIAGS[1]])["valid"] is True


def test_diagnostics_github_golden_and_escaping() -> None:
    out = render_diagnostics_github(DIAGS)
    check_golden("diagnostics.github", out)
    lines = out.splitlines()
    assert len(lines) == 4  # newlines in messages never split a command
    assert lines[0] == (
        "::error file=images.yaml,line=12,col=5,title=reconciler::"
        "unknown field 'lable' (at $.images[0].source.vm)%0Ahint: did you mean 'label'?"
    )
    assert lines[1] == "::warning file=images.yaml,line=3,title=reconciler::family 'x' has one image"
    assert lines[2] == (
        "::error title=reconciler::catalog unreachable: 50%25 done, retry%0Alater"
        "%0Ahint: check the endpoint, then retry"
    )
    # properties escape ':' and ',' (and '%'); the message keeps them.
    assert lines[3] == "::error file=dir%2Cwith%3Aodd%25name.yaml,line=7,col=2,title=reconciler::a:b,c (at $.x)"


# --------------------------------------------------------------------------------------------------
# Read views

IMAGES = [
    image("web-base-2026-10", data_disks=2, created="2026-10-01T00:00:00Z"),
    image("Web-Base-2026-11", data_disks=1, created="2026-11-01T00:00:00Z", protected=True),
    image("db-os", type=ImageType.OS, family="db", owner=None, created="2026-09-01T00:00:00Z"),
    image(
        "ubuntu-24.04",
        type=ImageType.OS,
        family="Ubuntu",
        category=Category.PUBLIC,
        owner=None,
        created="2026-01-01T00:00:00Z",
    ),
    image("loose", family=None, created=""),
]


def test_filter_defaults_to_user_images_sorted_by_name() -> None:
    assert [i.name for i in filter_images(IMAGES)] == ["db-os", "loose", "web-base-2026-10", "Web-Base-2026-11"]


def test_filter_by_category_family_type() -> None:
    assert [i.name for i in filter_images(IMAGES, category="public")] == ["ubuntu-24.04"]
    assert len(filter_images(IMAGES, category="all")) == 5
    assert [i.name for i in filter_images(IMAGES, family="WEB-BASE")] == ["web-base-2026-10", "Web-Base-2026-11"]
    assert [i.name for i in filter_images(IMAGES, type="os", category="all")] == ["db-os", "ubuntu-24.04"]
    assert [i.name for i in filter_images(IMAGES, type=ImageType.VM)] == [
        "loose",
        "web-base-2026-10",
        "Web-Base-2026-11",
    ]


@pytest.mark.parametrize("kw", [{"category": "mine"}, {"type": "disk"}])
def test_filter_refuses_unknown_values(kw: dict[str, str]) -> None:
    with pytest.raises(ReconcilerError) as e:
        filter_images(IMAGES, **kw)  # type: ignore[arg-type]
    assert e.value.hint.startswith("use one of")


def test_images_table_golden_and_alignment() -> None:
    out = render_images_table(filter_images(IMAGES, category="all"))
    check_golden("images.txt", out)
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME", "TYPE", "OS", "STATE", "FAMILY", "CATEGORY", "OWNER", "PROTECTED", "DISKS", "CREATED",
    ]  # fmt: skip
    col = lines[0].index("TYPE")
    assert all(line[col - 2 : col] == "  " and line[col] != " " for line in lines)
    assert render_images_table([]) == "No images found.\n"


def test_images_json() -> None:
    out = render_images_json(IMAGES[:1])
    assert out[0]["name"] == "web-base-2026-10"
    assert out[0]["data_disks"] == 2 and out[0]["category"] == "user" and out[0]["type"] == "vm"


def test_families() -> None:
    fams = families_json(IMAGES)
    assert fams == [
        {
            "family": "db",
            "images": 1,
            "newest": "db-os",
            "newest_created": "2026-09-01T00:00:00Z",
            "types": ["os"],
            "categories": ["user"],
        },
        {
            "family": "Ubuntu",
            "images": 1,
            "newest": "ubuntu-24.04",
            "newest_created": "2026-01-01T00:00:00Z",
            "types": ["os"],
            "categories": ["public"],
        },
        {
            "family": "web-base",
            "images": 2,
            "newest": "Web-Base-2026-11",
            "newest_created": "2026-11-01T00:00:00Z",
            "types": ["vm"],
            "categories": ["user"],
        },
    ]
    check_golden("families.txt", render_families(IMAGES))
    assert render_families([IMAGES[-1]]) == "No image families found.\n"


# --------------------------------------------------------------------------------------------------
# Apply report

RESULT = ApplyResult(
    (
        ChangeResult("web-base-2026-08", Action.REMOVE, Outcome.DONE, seconds=3.25),
        ChangeResult("web-base-2026-11", Action.CAPTURE, Outcome.FAILED, error="OperationFailed: disk busy"),
        ChangeResult("web-base-2026-10", Action.UPDATE, Outcome.NOT_STARTED),
    )
)


def test_apply_report_text() -> None:
    out = render_apply_report(RESULT)
    check_golden("apply.txt", out)
    assert out.splitlines() == [
        "  - remove web-base-2026-08: done (3.2s)",
        "  + capture web-base-2026-11: failed: OperationFailed: disk busy",
        "  ~ update web-base-2026-10: not started",
        "Apply finished: 1 done, 1 failed, 1 not started.",
    ]
    assert ANSI.sub("", render_apply_report(RESULT, color=True)) == out


def test_apply_report_json() -> None:
    doc = apply_report_json(RESULT)
    assert doc["ok"] is False
    assert doc["summary"] == {"done": 1, "failed": 1, "not_started": 1}
    assert doc["results"][1] == {
        "name": "web-base-2026-11",
        "action": "capture",
        "actions": ["create"],
        "outcome": "failed",
        "error": "OperationFailed: disk busy",
        "seconds": 0.0,
    }
    assert apply_report_json(ApplyResult(()))["ok"] is True
