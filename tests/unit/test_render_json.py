"""The JSON plan document: its fields, Terraform-compatible actions, and the published schema."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest
from hypothesis import given, settings
from jsonschema import Draft202012Validator
from test_render_plans import check_golden, empty_plan, errored_plan, full_plan, plans

from reconciler import __version__
from reconciler.errors import Diagnostic
from reconciler.model import Action, Plan
from reconciler.planfile import plan_schema, validate_plan_document
from reconciler.render import render_plan_json


def _schema() -> dict:
    return json.loads(resources.files("reconciler").joinpath("schemas", "plan.schema.json").read_text("utf-8"))


def test_schema_is_a_valid_draft_2020_12_schema_with_an_id() -> None:
    schema = _schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert plan_schema() == schema


@pytest.mark.parametrize("make", [full_plan, errored_plan, empty_plan])
def test_documents_validate(make: object) -> None:
    doc = render_plan_json(make())  # type: ignore[operator]
    assert validate_plan_document(doc) == []
    # and survive a trip through real JSON text
    assert validate_plan_document(json.loads(json.dumps(doc))) == []


@settings(max_examples=150, deadline=None)
@given(plans)
def test_arbitrary_plans_validate(plan: Plan) -> None:
    assert validate_plan_document(render_plan_json(plan)) == []


def test_schema_rejects_drift() -> None:
    doc = render_plan_json(full_plan())
    doc["resource_changes"][0]["surprise"] = 1
    doc["summary"]["capture"] = -1
    doc["resource_changes"][0]["actions"] = ["create"]  # [0] is the update: its actions must be ["update"]
    problems = validate_plan_document(doc)
    assert any("surprise" in p for p in problems)
    assert any(p.startswith("$.summary.capture") for p in problems)
    assert len(problems) >= 3


def test_golden_json() -> None:
    doc = render_plan_json(full_plan())
    doc["reconciler_version"] = "X"  # keep the golden file stable across releases
    check_golden("plan.json", json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def test_top_level_fields() -> None:
    doc = render_plan_json(full_plan())
    assert doc["format_version"] == "2.0"
    assert doc["reconciler_version"] == __version__
    assert (doc["catalog"], doc["provider"]) == ("platform", "local")
    assert doc["applyable"] is True and doc["errored"] is False and doc["prune"] is True
    assert doc["summary"] == {"capture": 1, "update": 1, "replace": 1, "remove": 1, "no_op": 1, "destructive": 3}
    assert doc["desired_digest"] == "sha256:" + "ab" * 32
    assert doc["fingerprints"]["vm:build-web-01"] == "fp-vm-1"
    assert [d["severity"] for d in doc["diagnostics"]] == ["warning"]


def test_resource_changes_keep_plan_order_and_terraform_actions() -> None:
    doc = render_plan_json(full_plan())
    rc = doc["resource_changes"]
    noops = [c for c in full_plan().changes if c.action is Action.NOOP]
    assert [c["name"] for c in rc] == [c.name for c in full_plan().changes if c not in noops]
    # An unchanged image is its name and fingerprint under its family (format 2.0), not a change;
    # one that carries an error or a warning stays a change.
    assert doc["unchanged"] == {"web-base": {c.name: c.before.fingerprint for c in noops if c.before}}
    assert all(c["action"] != "no-op" for c in rc)
    noisy = dataclasses.replace(noops[0], warnings=(Diagnostic.warning("w", "h"),))
    plan = dataclasses.replace(full_plan(), changes=(*[c for c in full_plan().changes if c not in noops], noisy))
    rc = render_plan_json(plan)["resource_changes"]
    by_action = {c["action"]: c for c in rc}
    assert render_plan_json(plan)["unchanged"] == {}
    assert by_action["capture"]["actions"] == ["create"] and by_action["capture"]["symbol"] == "+"
    assert by_action["update"]["actions"] == ["update"]
    assert by_action["replace"]["actions"] == ["delete", "create"] and by_action["replace"]["symbol"] == "-/+"
    assert by_action["remove"]["actions"] == ["delete"]
    assert by_action["no-op"]["actions"] == ["no-op"]
    assert by_action["replace"]["replace_paths"] == ["type"]
    assert all("replace_paths" not in c for c in rc if c["action"] != "replace")


def test_capture_change_details() -> None:
    cap = render_plan_json(full_plan())["resource_changes"][1]
    assert cap["name"] == "web-base-2026-11"
    assert cap["destructive"] is True and cap["consumes_vm"] == "build-web-01"
    assert cap["before"] is None
    assert cap["after"]["source"] == {"vm": "build-web-01", "vhd": None, "generalize": False, "storage_account": None}
    assert cap["after"]["tags"] == {"team": "web"}
    assert cap["steps"][-1] == "capture image"
    assert cap["fields"][0] == {"path": "type", "before": None, "after": "vm", "forces_replace": False}
    assert cap["family"] == "web-base"


def test_remove_change_has_before_and_no_after() -> None:
    rm = render_plan_json(full_plan())["resource_changes"][3]
    assert rm["action"] == "remove" and rm["after"] is None
    assert rm["before"]["owner"] == "platform" and rm["before"]["fingerprint"] == "fp-web-base-2026-08"


def test_errored_plan_document() -> None:
    doc = render_plan_json(errored_plan())
    assert doc["applyable"] is False and doc["errored"] is True
    assert doc["targets"] == ["nope", "web-base-2026-12"]
    assert doc["diagnostics"][0]["code"] == "target" and doc["diagnostics"][0]["location"] is None
    err = doc["resource_changes"][0]["errors"][0]
    assert err["location"] == {"file": "images.yaml", "line": 12, "col": 5, "json_path": "$.images[0].source.vm"}
    assert err["severity"] == "error" and err["hint"].startswith("fix source.vm")


def test_document_is_plain_json() -> None:
    # Enums and mappings must have become plain types: a strict encoder would choke otherwise.
    text = json.dumps(render_plan_json(full_plan()), allow_nan=False)
    assert '"type": "vm"' in text
