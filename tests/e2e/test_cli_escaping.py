"""Issue 8, item 12, through the real command line: hostile text in the live catalog and in the
desired-state file reaches no output as it is (Trojan Source, CVE-2021-42574), and `validate`
refuses control characters in names and keys and bidi controls anywhere, with file:line:col."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RLO = "\u202e"
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def raw_unsafe(text: str) -> list[str]:
    return [
        f"U+{ord(c):04X} at {k}"
        for k, c in enumerate(text)
        if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES
    ]


def _hostile_catalog(tmp_path: Path) -> Path:
    """The demo catalog, where anyone with access to the live images relabelled two of them."""
    seed = json.loads((ROOT / "examples" / "demo-catalog.json").read_text())
    for img in seed["images"]:
        if img["name"] == "db-base-2026-10":  # declared in the file: an update shows the live label
            img["label"] = f"DB base {RLO}7102 ,tcO"
            img["description"] = "PostgreSQL\u2066 17\x00"
        if img["name"] == "web-base-2026-08":  # owned, undeclared, prune on: a remove shows it all
            img["label"] = f"{RLO}Web base"
            img["description"] = "line\u2028separator\x1b[2J"
            img["tags"] = {"team": f"w{RLO}eb", "k\u200b": "v\x85"}
            img["family"] = f"web-base{RLO}"
    path = tmp_path / "hostile-catalog.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def test_plans_listings_and_apply_show_live_hostile_text_escaped(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "images.yaml.example", tmp_path / "images.yaml")
    assert cli("catalog", "init", "--from", str(_hostile_catalog(tmp_path))).code == 0
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    text = cli("plan")
    assert text.code == 0, text.text
    assert raw_unsafe(text.text) == []
    assert '"DB base \\u202e7102 ,tcO"' in text.out and '"\\u202eWeb base"' in text.out
    assert "line\\u2028separator\\u001b[2J" in text.out

    md = cli("plan", "--format", "markdown")
    assert md.code == 0 and raw_unsafe(md.text) == []
    assert '"DB base \\u202e7102 ,tcO"' in md.out and "web-base\\\\u202e" in md.out
    assert raw_unsafe(summary.read_text(encoding="utf-8")) == [] and "\\u202e" in summary.read_text(encoding="utf-8")

    js = cli("plan", "--format", "json")
    assert js.code == 0 and js.out.isascii() and raw_unsafe(js.out) == []
    doc = json.loads(js.out)
    before = {c["name"]: c["before"] for c in doc["resource_changes"] if c["before"]}
    assert before["db-base-2026-10"]["label"] == f"DB base {RLO}7102 ,tcO"  # the data itself is intact

    drift = cli("drift", "--format", "markdown")
    assert drift.code == 2 and raw_unsafe(drift.text) == [] and "\\u202e" in drift.out

    for args in (("images", "list"), ("images", "families")):
        r = cli(*args)
        assert r.code == 0 and raw_unsafe(r.text) == [] and "web-base\\u202e" in r.out, args
    listing = cli("images", "list", "--format", "json")
    assert listing.code == 0 and listing.out.isascii() and "\\u202e" in listing.out

    exported = cli("export")  # YAML of the live owned images: hidden characters written as escapes
    assert exported.code == 0 and raw_unsafe(exported.text) == [] and "\\u202E" in exported.out
    (tmp_path / "exported.yaml").write_text(exported.out, encoding="utf-8")
    again = cli("validate", "exported.yaml")  # ... which validate then points at
    assert again.code == 1 and "label contains the bidirectional control character U+202E" in again.text

    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.text
    assert raw_unsafe(applied.text) == []
    assert "remove web-base-2026-08" in applied.out


HOSTILE_FILE = """\
version: 1
catalog: {name: platform, path: c.db}
images:
  - name: "web\\u202ebase-2026-11"
    type: os
    os: linux
    label: "Web base \\u202e1102 rebmevoN"
    description: "two\\nlines are fine"
    source: {vm: build-web-01}
    tags: {"\\0x": web}
  - name: "web\\u202ebase-2026-11"
    type: os
    os: linux
    source: {vm: build-web-02}
"""


def test_validate_refuses_control_keys_and_bidi_names_with_line_and_column(cli, tmp_path):
    path = tmp_path / "images.yaml"
    path.write_text(HOSTILE_FILE, encoding="utf-8")
    for args in (("validate", str(path)), ("plan", str(path))):
        r = cli(*args)
        assert r.code == 1, r.text
        assert raw_unsafe(r.text) == [], args
        assert f"{path}:10:12: error: tag key '\\x00x' contains the control character U+0000" in r.text
        assert f"{path}:4:11: error: image name 'web\\u202ebase-2026-11' contains the bidirectional control" in r.text
        assert f"{path}:7:12: error: label contains the bidirectional control character U+202E" in r.text
        # The duplicate-name message quotes the value: escaped too.
        assert "duplicate image name 'web\\u202ebase-2026-11' (first declared on line 4)" in r.text
        assert "hint: names, keys and settings hold printable characters only" in r.text
        assert "description" not in r.text  # a line break in a description is allowed
    gh = cli("validate", "--format", "github", str(path))
    assert gh.code == 1 and raw_unsafe(gh.text) == [] and "line=10,col=12" in gh.out
    js = cli("validate", "--format", "json", str(path))
    assert js.out.isascii() and not json.loads(js.out)["valid"]


def test_apply_progress_lines_escape_names_and_provider_messages(capsys):
    from reconciler.cli.progress import LineHooks, LiveHooks
    from reconciler.model import Action, Change, ChangeResult, Outcome

    change = Change(name=f"web{RLO}01", action=Action.REMOVE, reason="no longer declared")
    hooks = LineHooks()
    hooks.started(change)
    hooks.step(change, f"provider said {RLO}done\x1b[2J")
    hooks.finished(change, ChangeResult(change.name, Action.REMOVE, Outcome.FAILED, error=f"x{RLO}"), None)
    out = capsys.readouterr().out
    assert raw_unsafe(out) == [] and out.count("web\\u202e01") == 3 and "said \\u202edone\\x1b[2J" in out
    # The live progress line is rich markup: a name cannot open a link or a style either.
    line = LiveHooks._line(Change(name="[link=https://e.x]a", action=Action.REMOVE, reason="r"), f"b{RLO}")
    assert raw_unsafe(line) == [] and line == "- \\[link=https://e.x]a: b\\u202e"
