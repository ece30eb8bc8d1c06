"""Issue 12: the pull-request loop (annotations on stderr, the demo's images.yaml) and many catalogs
(`plan DIR`, `catalogs DIR --format github-matrix`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler import operations

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "examples" / "demo-catalog.json")
EXAMPLE = (ROOT / "images.yaml.example").read_text()


def catalog_file(path: Path, db: Path, name: str = "platform", text: str = EXAMPLE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("path: .reconciler/catalog.db", f"path: {db}").replace(
        "name: platform", f"name: {name}"))
    return path


@pytest.fixture
def fleet(tmp_path, monkeypatch, cli):
    """cats/: two catalogs (one with changes, one without), a JSON that is no catalog, a hidden dir."""
    monkeypatch.chdir(tmp_path)
    for db in ("a.db", "b.db"):
        assert cli("catalog", "init", "--from", SEED, "--path", str(tmp_path / db)).code == 0
    catalog_file(tmp_path / "cats" / "platform.yaml", tmp_path / "a.db")
    quiet = catalog_file(tmp_path / "cats" / "prod" / "weu.yml", tmp_path / "b.db", name="platform-weu")
    (tmp_path / "cats" / "notes.json").write_text('{"not": "a catalog"}')
    catalog_file(tmp_path / "cats" / ".old" / "x.yaml", tmp_path / "a.db", name="hidden")
    # platform-weu owns nothing and declares nothing: no changes.
    text = quiet.read_text()
    quiet.write_text(text[: text.index("images:")] + "images: []\n")
    return tmp_path


# --------------------------------------------------------------------------------------------------
# Section 1


def test_github_annotations_go_to_stderr_not_into_the_markdown(cli, demo, monkeypatch):
    spec = demo / "images.yaml"
    spec.write_text(spec.read_text().replace("build-db-01", "no-such-vm"))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    r = cli("plan", "--format", "markdown")
    assert r.code == 1
    assert "::error" not in r.out
    assert "::error file=images.yaml,line=" in r.err
    r = cli("plan", "missing.yaml", "--format", "markdown")  # an error before any plan: also stderr
    assert r.code == 1 and "::error" not in r.out and "::error" in r.err


def test_the_missing_file_hint_says_to_copy_the_example(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("plan")
    assert r.code == 1 and "images.yaml: no such file" in r.err
    assert "cp images.yaml.example images.yaml" in r.err


def test_make_demo_leaves_a_working_images_yaml(cli, tmp_path, monkeypatch):
    """The demo's copy step (run as make runs it), then `plan` with no argument works."""
    recipe = (ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    copy = next(line.strip() for line in recipe.splitlines() if "images.yaml.example" in line and "cp " in line)
    assert "/images.yaml" in (ROOT / ".gitignore").read_text().splitlines()
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "images.yaml.example", tmp_path)
    for _ in range(2):  # idempotent: never overwrites the user's file
        subprocess.run(["sh", "-c", copy], check=True, cwd=tmp_path)
    assert (tmp_path / "images.yaml").read_text() == EXAMPLE
    assert cli("catalog", "init", "--from", SEED).code == 0
    r = cli("plan")
    assert r.code == 0, r.text
    assert "Plan:" in r.out


# --------------------------------------------------------------------------------------------------
# Section 4


def test_find_catalogs_follows_the_documented_rule(fleet):
    found = operations.find_catalogs([Path("cats")])
    assert [(str(c.file), c.name, c.provider) for c in found] == [
        ("cats/platform.yaml", "platform", "local"),
        ("cats/prod/weu.yml", "platform-weu", "local"),
    ]
    assert "*.yaml" in (ROOT / "docs" / "github-actions.md").read_text()


def test_a_directory_without_catalogs_is_refused(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("plan", str(tmp_path / "empty"))
    assert r.code == 1 and "no desired-state file" in r.err


def test_two_files_of_one_catalog_are_refused(cli, fleet):
    catalog_file(fleet / "cats" / "copy.yaml", fleet / "b.db")
    r = cli("catalogs", "cats")
    assert r.code == 1 and "catalog 'platform' is declared by 2 files" in r.err


def test_catalogs_prints_a_github_matrix(cli, fleet):
    r = cli("catalogs", "cats", "--format", "github-matrix")
    assert r.code == 0, r.text
    assert len(r.out.strip().splitlines()) == 1  # one line, for $GITHUB_OUTPUT
    assert json.loads(r.out) == {"include": [
        {"catalog": "platform", "file": "cats/platform.yaml", "provider": "local"},
        {"catalog": "platform-weu", "file": "cats/prod/weu.yml", "provider": "local"},
    ]}
    assert cli("catalogs", "cats", "--format", "names").out.split() == ["platform", "platform-weu"]


def test_plan_dir_prints_a_section_per_catalog_and_the_worst_exit_code(cli, fleet):
    r = cli("plan", "cats", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "== cats/platform.yaml: catalog platform (local) ==" in r.out
    assert "== cats/prod/weu.yml: catalog platform-weu (local) ==" in r.out
    assert r.out.rstrip().endswith("2 catalogs: 1 with changes, 0 with errors, 1 without changes.")
    assert cli("plan", "cats").code == 0  # without --detailed-exitcode changes are success
    assert cli("plan", "cats/prod/weu.yml", "cats/prod", "--detailed-exitcode").code == 0  # files, deduplicated
    # One catalog with an error: 1 wins over 2, and the others are still planned.
    spec = fleet / "cats" / "platform.yaml"
    spec.write_text(spec.read_text().replace("build-db-01", "no-such-vm"))
    (fleet / "cats" / "broken.yaml").write_text("version: 1\ncatalog:\n  name: [x\n")
    r = cli("plan", "cats", "--detailed-exitcode")
    assert r.code == 1
    assert "== cats/broken.yaml: not planned ==" in r.out and "cats/prod/weu.yml: catalog platform-weu" in r.out
    assert "3 catalogs: 0 with changes, 2 with errors, 1 without changes." in r.out


def test_plan_dir_markdown_has_one_marked_section_per_catalog(cli, fleet):
    r = cli("plan", "cats", "--format", "markdown")
    assert r.code == 0, r.text
    assert r.out.startswith("**reconciler plan:** 2 catalogs")
    assert re.findall(r"<!-- reconciler:catalog=([\w-]+) -->", r.out) == ["platform", "platform-weu"]
    r = cli("plan", "cats", "--format", "json")
    doc = json.loads(r.out)
    assert [c["file"] for c in doc["catalogs"]] == ["cats/platform.yaml", "cats/prod/weu.yml"]
    assert doc["has_changes"] is True and doc["errored"] is False


def test_plan_dir_refuses_out_and_target(cli, fleet):
    r = cli("plan", "cats", "--out", "plan.json")
    assert r.code == 1 and "--out saves the plan of one catalog" in r.err
    assert not (fleet / "plan.json").exists()
    r = cli("plan", "cats", "--target", "web-base-2026-11")
    assert r.code == 1 and "--target" in r.err


def test_the_action_supports_the_matrix():
    import yaml

    doc = yaml.safe_load((ROOT / "action.yml").read_text())
    assert "matrix" in doc["inputs"]["command"]["description"] and "matrix" in doc["outputs"]
    assert any("--format github-matrix" in str(s.get("run", "")) for s in doc["runs"]["steps"])
