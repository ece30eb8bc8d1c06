"""Issue 8, items 4-6: a saved plan is applied only if it is still the plan; inputs are bounded;
`--out` never replaces what is not ours. Real files, real SQLite catalog, the real CLI in-process."""

from __future__ import annotations

import copy
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from reconciler.model import CatalogConfig
from reconciler.planfile import checksum
from reconciler.providers import open_provider

MAX_INPUT_BYTES = 64 * 1024 * 1024  # the documented limit (docs/security.md)


def live_images(workdir: Path) -> tuple:
    p = open_provider(
        CatalogConfig(name="platform", provider="local", settings={"path": str(workdir / ".reconciler/catalog.db")})
    )
    try:
        return p.snapshot().images
    finally:
        p.close()


def forge(path: Path, edit) -> None:
    """Edit a saved plan and re-seal it, as an attacker who read docs/plan-format.md would."""
    doc = json.loads(path.read_bytes())
    edit(doc)
    doc["plan_file"].pop("checksum", None)
    doc["plan_file"]["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def change_of(doc: dict, name: str) -> dict:
    return next(c for c in doc["resource_changes"] if c["name"] == name)


# --------------------------------------------------------------------------------------------------
# Item 4: forgery


def _update_to_remove(doc: dict) -> None:
    c = change_of(doc, "db-base-2026-10")
    c.update(action="remove", actions=["delete"], symbol="-", after=None, fields=[], destructive=True,
             reason="no longer declared", steps=["delete image"])


def test_forged_update_turned_into_remove_is_refused(cli, demo):
    assert cli("plan", "--out", "plan.json").code == 0
    forge(demo / "plan.json", _update_to_remove)
    before = live_images(demo)
    r = cli("apply", "plan.json")
    assert r.code == 1, r.text
    assert "the saved plan removes db-base-2026-10, a fresh plan updates it: run plan again" in r.err
    assert live_images(demo) == before
    assert cli("plan", "--detailed-exitcode").code == 2  # nothing changed


def test_duplicated_change_is_refused(cli, demo):
    assert cli("plan", "--out", "plan.json").code == 0

    def duplicate(doc: dict) -> None:
        doc["resource_changes"].append(copy.deepcopy(change_of(doc, "web-base-2026-08")))

    forge(demo / "plan.json", duplicate)
    before = live_images(demo)
    r = cli("apply", "plan.json")
    assert r.code == 1, r.text
    assert "the saved plan lists web-base-2026-08 twice" in r.err
    assert live_images(demo) == before


def test_an_unchanged_image_moved_to_another_family_is_refused(cli, demo):
    """A saved plan keeps an unchanged image under its family (``show PLAN`` counts it there): a
    re-sealed file that moves it is not the plan, though apply would not act on it."""
    assert cli("plan", "--out", "plan.json").code == 0

    def move(doc: dict) -> None:
        doc["unchanged"]["db-base"] = doc["unchanged"].pop("win-base")

    forge(demo / "plan.json", move)
    before = live_images(demo)
    r = cli("apply", "plan.json")
    assert r.code == 1, r.text
    assert "the saved plan lists win-base-2026-09 in family db-base, a fresh plan in win-base" in r.err
    assert live_images(demo) == before


def test_dropped_change_and_edited_desired_image_are_named(cli, demo):
    assert cli("plan", "--out", "plan.json").code == 0

    def edit(doc: dict) -> None:
        doc["resource_changes"].remove(change_of(doc, "web-base-2026-11"))
        change_of(doc, "db-base-2026-10")["after"]["description"] = "owned"

    forge(demo / "plan.json", edit)
    before = live_images(demo)
    r = cli("apply", "plan.json")
    assert r.code == 1, r.text
    assert "a fresh plan also captures web-base-2026-11" in r.err
    assert "db-base-2026-10" in r.err and "description" in r.err
    assert live_images(demo) == before


def test_genuine_saved_plan_with_its_own_prune_and_targets_applies(cli, demo):
    # --no-prune and --target are recorded in the plan; the fresh plan uses them, not the file's policy.
    assert cli("plan", "--no-prune", "--target", "DB-base-2026-10", "--target", "web-base-2026-08",
               "--out", "plan.json").code == 0
    r = cli("apply", "plan.json")
    assert r.code == 0, r.text
    assert "1 done, 0 failed, 0 not started" in r.out
    names = {i.name for i in live_images(demo)}
    assert "web-base-2026-08" in names  # not pruned: the saved plan said no prune


# --------------------------------------------------------------------------------------------------
# Item 5: input size and shape


def test_symlink_to_dev_zero_is_refused(cli, demo):
    (demo / "zero.json").symlink_to("/dev/zero")
    assert cli("plan", "--out", "plan.json").code == 0
    for args in (("apply", "zero.json"), ("show", "zero.json"), ("plan", "zero.json"), ("validate", "zero.json"),
                 ("apply", "plan.json", "--file", "zero.json"), ("catalog", "init", "--from", "zero.json",
                                                                 "--path", "x.db")):
        r = cli(*args)
        assert r.code == 1, (args, r.text)
        assert "zero.json" in r.err and "not a regular file" in r.err, (args, r.err)
    assert not (demo / "x.db").exists()


def test_fifo_and_directory_are_refused(cli, demo):
    os.mkfifo(demo / "pipe.json")
    (demo / "dir.yaml").mkdir()
    r = cli("show", "pipe.json")
    assert r.code == 1 and "pipe.json" in r.err and "FIFO" in r.err, r.err
    r = cli("plan", "dir.yaml")
    assert r.code == 1 and "dir.yaml" in r.err and "directory" in r.err, r.err


def test_symlink_to_a_regular_file_is_read(cli, demo):
    (demo / "link.yaml").symlink_to(demo / "images.yaml")
    assert cli("plan", "link.yaml", "--out", "plan.json").code == 0
    (demo / "plan-link.json").symlink_to(demo / "plan.json")
    r = cli("apply", "plan-link.json", "--file", "link.yaml")
    assert r.code == 0, r.text


def test_oversized_inputs_are_refused(cli, demo):
    big = demo / "big.yaml"
    with big.open("wb") as f:  # sparse: costs no disk
        f.truncate(MAX_INPUT_BYTES + 1)
    for args in (("plan", "big.yaml"), ("show", "big.yaml"), ("apply", "big.yaml")):
        r = cli(*args)
        assert r.code == 1, r.text
        assert "big.yaml" in r.err and "64 MiB" in r.err, r.err


def test_deeply_nested_plan_file_is_a_clear_error(cli, demo):
    (demo / "deep.json").write_bytes(b'{"plan_file": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    for args in (("show", "deep.json"), ("apply", "deep.json")):
        r = cli(*args)
        assert r.code == 1, r.text
        assert "deep.json" in r.err and "nests too deeply" in r.err, r.err
        assert "Recursion" not in r.text


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
                                  b"a:\n" + b"".join(b" " * i + b"- \n" for i in range(1, 200))])
def test_deeply_nested_desired_state_is_a_clear_error(cli, demo, body):
    (demo / "deep.yaml").write_bytes(body)
    for args in (("plan", "deep.yaml"), ("apply", "deep.yaml"), ("validate", "deep.yaml")):
        r = cli(*args)
        assert r.code == 1, r.text
        assert "nests too deeply" in r.text and "32" in r.text, r.text
        assert "Recursion" not in r.text


def _json_desired_state(demo: Path) -> bytes:
    import yaml

    return json.dumps(yaml.safe_load((demo / "images.yaml").read_text())).encode()


def test_json_desired_state_file_applies(cli, demo):
    (demo / "images.json").write_bytes(_json_desired_state(demo))
    r = cli("apply", "images.json", "--auto-approve")
    assert r.code == 0, r.text
    assert "3 done" in r.out
    assert cli("plan", "images.json", "--detailed-exitcode").code == 0


def test_bom_is_accepted_in_desired_state_and_plan_files(cli, demo):
    (demo / "bom.json").write_bytes(b"\xef\xbb\xbf" + _json_desired_state(demo))
    assert cli("plan", "bom.json", "--out", "plan.json").code == 0
    plan = demo / "plan.json"
    plan.write_bytes(b"\xef\xbb\xbf" + plan.read_bytes())
    assert cli("show", "plan.json").code == 0
    r = cli("apply", "plan.json", "--file", "bom.json")
    assert r.code == 0, r.text
    assert "Applying the saved plan plan.json" in r.out


def test_truncated_plan_still_gets_the_plan_file_message(cli, demo):
    assert cli("plan", "--out", "plan.json").code == 0
    p = demo / "plan.json"
    p.write_bytes(p.read_bytes()[:200])
    r = cli("apply", "plan.json")
    assert r.code == 1 and "truncated or not a plan file" in r.err, r.err


# --------------------------------------------------------------------------------------------------
# Item 6: never replace what is not ours


def test_out_through_a_symlink_writes_the_target_and_keeps_the_link(cli, demo):
    target = demo / "real" / "plan.json"
    target.parent.mkdir()
    target.write_text("old")
    (demo / "plan.json").symlink_to(target)
    assert cli("plan", "--out", "plan.json").code == 0
    assert (demo / "plan.json").is_symlink()
    assert json.loads(target.read_bytes())["plan_file"]["format"] == "reconciler-plan"
    assert sorted(p.name for p in target.parent.iterdir()) == ["plan.json"]  # no temp file left
    r = cli("export", "--out", "plan.json")
    assert r.code == 0, r.text
    assert (demo / "plan.json").is_symlink() and b"images:" in target.read_bytes()


def test_out_onto_a_dangling_symlink_is_refused(cli, demo):
    (demo / "plan.json").symlink_to(demo / "missing" / "x.json")
    r = cli("plan", "--out", "plan.json")
    assert r.code == 1 and "plan.json" in r.err and "symlink" in r.err, r.err
    assert (demo / "plan.json").is_symlink()


def test_out_onto_a_fifo_writes_through(cli, demo):
    fifo = demo / "plan.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = cli("plan", "--out", str(fifo))
    reader.join(timeout=30)
    assert r.code == 0, r.text
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(got[0])["plan_file"]["format"] == "reconciler-plan"


def test_out_onto_a_character_device_writes_through(cli, demo):
    node = demo / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    assert cli("plan", "--out", str(node)).code == 0
    assert cli("export", "--out", str(node)).code == 0
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_out_onto_dev_null_keeps_it_a_device(cli, demo):
    assert cli("plan", "--out", "/dev/null").code == 0
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_out_onto_a_directory_is_refused(cli, demo):
    (demo / "d").mkdir()
    for args in (("plan", "--out", "d"), ("export", "--out", "d"), ("plan", "--out", ".")):
        r = cli(*args)
        assert r.code == 1 and "directory" in r.err, r.err
    assert list((demo / "d").iterdir()) == []
