"""``show PLAN`` gives the per-family figures the plan gave when it was made (issue 13, saved plan v2).

A saved plan keeps an unchanged image as its name and fingerprint, grouped by family
(docs/plan-format.md): ``show PLAN`` in every format counts it under its family, not under "(none)".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: An image without a family, captured (specialized: the VM is kept) from the demo's spare VM.
SPARE = """
  - name: tools-2026-12
    type: vm
    os: linux
    os_state: specialized
    label: Tools, no family
    source: {vm: build-spare-01}
"""


def family_table(markdown: str) -> list[str]:
    """The rows of the Markdown comment's per-family table."""
    lines = markdown.splitlines()
    start = lines.index("| Family | Capture | Update | Replace | Remove | Unchanged |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def json_figures(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    """family ("": none) -> action -> count, from the changes and the unchanged groups."""
    per: dict[str, Counter[str]] = {}
    for c in doc["resource_changes"]:
        per.setdefault(c["family"] or "", Counter())[c["action"]] += 1
    for family, names in doc["unchanged"].items():
        per.setdefault(family, Counter())["no-op"] += len(names)
    return {f: dict(c) for f, c in per.items()}


def shows_the_same(cli, expected_rows: list[str], expected_json: dict[str, dict[str, int]]) -> None:
    md, js, text = (cli("plan", "--format", f) for f in ("markdown", "json", "text"))
    assert md.code == js.code == text.code == 0, md.text + js.text + text.text
    assert family_table(md.out) == expected_rows
    assert json_figures(json.loads(js.out)) == expected_json
    saved = cli("plan", "--out", "plan.json")
    assert saved.code == 0, saved.text
    s_md, s_js, s_text = (cli("show", "plan.json", "--format", f) for f in ("markdown", "json", "text"))
    assert s_md.code == s_js.code == s_text.code == 0, s_md.text + s_js.text + s_text.text
    assert family_table(s_md.out) == expected_rows
    assert s_md.out == md.out  # the whole comment, not only the table
    assert json_figures(json.loads(s_js.out)) == expected_json
    assert json.loads(s_js.out)["unchanged"] == json.loads(js.out)["unchanged"]
    assert s_text.out == text.out


def test_show_of_a_saved_plan_counts_unchanged_images_under_their_family(cli, demo: Path) -> None:
    # The demo: one unchanged image (win-base), a capture and a remove in web-base, an update in db-base.
    shows_the_same(cli, [
        "| db-base | 0 | 1 | 0 | 0 | 0 |",
        "| web-base | 1 | 0 | 0 | 1 | 0 |",
        "| win-base | 0 | 0 | 0 | 0 | 1 |",
    ], {"db-base": {"update": 1}, "web-base": {"capture": 1, "remove": 1}, "win-base": {"no-op": 1}})


def test_after_an_apply_every_family_and_the_images_without_one_keep_their_figures(cli, demo: Path) -> None:
    seed = json.loads((ROOT / "examples" / "demo-catalog.json").read_text(encoding="utf-8"))
    (spare,) = [v for v in seed["vms"] if v["name"] == "build-spare-01"]
    spare["power_state"] = "deallocated"  # a capture needs it stopped
    (demo / "seed.json").write_text(json.dumps(seed), encoding="utf-8")
    r = cli("catalog", "init", "--from", "seed.json", "--force")
    assert r.code == 0, r.text
    spec = demo / "images.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("\nimages:\n", "\nimages:\n" + SPARE.lstrip("\n"), 1),
                    encoding="utf-8")
    r = cli("apply", "--auto-approve")
    assert r.code == 0, r.text
    # One update in db-base; everything else is unchanged, tools-2026-12 without a family.
    text = spec.read_text(encoding="utf-8")
    spec.write_text(re.sub(r"label: DB base, October 2026", "label: DB base, Oct. 2026", text, count=1),
                    encoding="utf-8")
    shows_the_same(cli, [
        "| db-base | 0 | 1 | 0 | 0 | 0 |",
        "| web-base | 0 | 0 | 0 | 0 | 1 |",
        "| win-base | 0 | 0 | 0 | 0 | 1 |",
        "| _(none)_ | 0 | 0 | 0 | 0 | 1 |",
    ], {"db-base": {"update": 1}, "web-base": {"no-op": 1}, "win-base": {"no-op": 1}, "": {"no-op": 1}})
    doc = json.loads(Path("plan.json").read_text(encoding="utf-8"))
    assert sorted(doc["unchanged"]) == ["", "web-base", "win-base"]
    assert list(doc["unchanged"][""]) == ["tools-2026-12"]
