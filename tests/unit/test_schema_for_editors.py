"""The schema editors use (yaml-language-server): one self-contained file, kept up to date (issue 12).

``images.schema.json`` is the core; the providers' settings and image fields are composed into it
at run time from their fragments, so on its own an editor would flag ``path:`` or
``lock_storage_account:`` as unknown. ``images.full.schema.json`` is the composed schema with every
fragment ``$ref`` inlined. Run with RECONCILER_UPDATE_GOLDEN=1 to rewrite it after a schema change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import yaml

from reconciler.spec.schema import FULL, bundled_schema

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "reconciler" / "schemas" / FULL


def _text() -> str:
    return json.dumps(bundled_schema(), indent=2, ensure_ascii=False) + "\n"


def test_the_full_schema_file_is_up_to_date():
    want = _text()
    if os.environ.get("RECONCILER_UPDATE_GOLDEN") == "1" or not SHIPPED.exists():
        SHIPPED.write_text(want, "utf-8")
    assert SHIPPED.read_text("utf-8") == want, f"{FULL} is stale: run with RECONCILER_UPDATE_GOLDEN=1"


def test_the_full_schema_is_self_contained_and_accepts_the_example():
    schema = json.loads(SHIPPED.read_text("utf-8"))
    refs = []

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("$ref"), str):
                refs.append(x["$ref"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(schema)
    assert refs and all(r.startswith("#/") for r in refs), refs
    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load((ROOT / "images.yaml.example").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(example)
    # The provider settings an editor would otherwise flag are known.
    props = schema["$defs"]["catalog"]["properties"]
    assert {"path", "lock_storage_account", "subscription"} <= set(props), sorted(props)


def test_the_example_wires_the_yaml_language_server_to_it():
    first = (ROOT / "images.yaml.example").read_text("utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=./reconciler/schemas/{FULL}"
    assert (ROOT / first.split("$schema=", 1)[1]).resolve() == SHIPPED.resolve()


def test_the_schema_command_prints_the_full_schema(capsys):
    import pytest

    from reconciler.cli import main

    with pytest.raises(SystemExit) as e:
        main(["schema"])
    assert e.value.code == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SHIPPED.read_text("utf-8"))
