"""docs/providers.md's recipe, proven: a provider is one package, one entry-point line, one harness.

The toy provider (tests/fixtures/providers/toy_provider) is registered the way a separate
distribution registers one: a ``*.dist-info`` with an ``entry_points.txt`` on ``sys.path``. Nothing
in ``reconciler/`` names it; validate, the environment defaults, ``catalog init``, plan, the plan's
wording and the shared contract suite all find it through the registry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import operations
from reconciler.errors import Severity
from reconciler.operations import Environment
from reconciler.providers import registry
from reconciler.render import render_plan_text
from reconciler.spec import check_spec
from reconciler.spec import schema as spec_schema

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "providers"
SEED = ROOT / "examples" / "demo-catalog.json"


def forget() -> None:
    """Drop everything read from the registry, so the next call reads the entry points again."""
    registry._clear_cache()
    spec_schema.load_schema.cache_clear()
    spec_schema.registry.cache_clear()
    spec_schema.validators.cache_clear()


def write_dist_info(where: Path) -> None:
    """What ``pip install`` of a distribution declaring ``toy = "toy_provider"`` leaves behind."""
    info = where / "reconciler_toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reconciler-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[reconciler.providers]\ntoy = toy_provider\n")


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The toy provider installed for this test only; yields a working directory."""
    site = tmp_path / "site"
    site.mkdir()
    write_dist_info(site)
    monkeypatch.syspath_prepend(str(TOY))
    monkeypatch.syspath_prepend(str(site))
    forget()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work
    forget()
    sys.modules.pop("toy_provider", None)


def doc(catalog: str, image: str = "") -> bytes:
    images = (
        "images:\n  - name: web-1\n    type: vm\n    os: linux\n    os_state: generalized\n"
        f"    source: {{vm: build-web-01}}\n{image}"
    )
    return f"version: 1\ncatalog:\n{catalog}{images}".encode()


def problems(data: bytes, **kw: object) -> list[tuple[str, str, str]]:
    _, diags = check_spec(data, "images.yaml", **kw)  # type: ignore[arg-type]
    return [(d.location.json_path if d.location else "", d.summary, d.hint) for d in diags
            if d.severity is Severity.ERROR]


def test_the_registry_lists_a_provider_found_through_its_entry_point(toy: Path) -> None:
    assert registry.names() == ("local", "azure", "azure-classic", "toy")
    assert registry.fragment("toy")["$id"] == "urn:reconciler:provider:toy"
    enum = spec_schema.load_schema()["$defs"]["catalog"]["properties"]["provider"]["enum"]
    assert enum == ["local", "azure", "azure-classic", "toy"]


def test_validate_takes_the_toy_settings_and_image_fields_from_its_fragment(toy: Path) -> None:
    state, diags = check_spec(doc("  name: platform\n  provider: toy\n  shelf: box.db\n", "    colour: red\n"), "f")
    assert state is not None, diags
    assert state.catalog.settings == {"shelf": "box.db"} and state.images[0].extra == {"colour": "red"}
    # The fragment's constraints and hint, in validate's usual words:
    assert problems(doc("  name: platform\n  provider: toy\n  shelf: Box\n", "    colour: pink\n")) == [
        ("$.catalog.shelf", "shelf 'Box' is not valid", "a file name ending in .db"),
        ("$.images[0].colour", "colour cannot be the text 'pink'", "use one of: red, green, blue"),
    ]
    # ... and the semantic checks narrow the union per provider, both ways:
    assert problems(doc("  name: platform\n  provider: toy\n  path: x.db\n")) == [
        ("$.catalog.path", "setting 'path' is not known to provider 'toy'", "remove it; provider 'toy' knows: shelf"),
    ]
    assert problems(doc("  name: platform\n  shelf: box.db\n", "    colour: red\n")) == [
        ("$.catalog.shelf", "setting 'shelf' is not known to provider 'local'",
         "remove it; provider 'local' knows: path"),
        ("$.images[0].colour", "field 'colour' is not supported by provider 'local'",
         "remove it (provider 'local' image fields: end_of_life_date, exclude_from_latest)"),
    ]


def test_the_toy_environment_variable_fills_its_setting(toy: Path) -> None:
    env = Environment({"TOY_SHELF": "from-env.db"})
    assert env.catalog_defaults()["shelf"] == "from-env.db"
    state, diags = operations.check_desired(doc("  name: platform\n  provider: toy\n"), "f", env)
    assert state is not None and state.catalog.settings == {"shelf": "from-env.db"}, diags


def test_catalog_init_plan_and_wording_go_through_the_registry(toy: Path) -> None:
    (toy / "images.yaml").write_bytes(doc("  name: platform\n  provider: toy\n  shelf: box.db\n", "    colour: red\n"))
    env = Environment()
    result = operations.init_catalog(SEED, file=toy / "images.yaml", env=env)
    assert result.path == Path("box.db") and (toy / "box.db").is_file()
    desired = operations.load_desired(toy / "images.yaml", env)
    provider = operations.open_catalog(desired, env)
    try:
        plan = operations.make_plan(desired, provider)
    finally:
        provider.close()
    [capture] = [c for c in plan.changes if c.name == "web-1"]
    assert capture.consumes_vm == "build-web-01"
    assert any(f.path == "extra.colour" and f.after == "red" for f in capture.fields)
    assert "! consumes VM build-web-01 (puts the source VM back in the toy box)" in render_plan_text(plan)


def test_the_contract_suite_runs_against_the_toy_harness(toy: Path, tmp_path: Path) -> None:
    """What the toy's own CI would run: the shared suite, with its harness named."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(TOY), os.environ.get("PYTHONPATH", "")]),
        "RECONCILER_CONTRACT_HARNESSES": "harness_toy",
    }
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/contract/test_provider_contract.py",
         "-k", "toy"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert re.search(r"\b(3\d|[4-9]\d) passed", summary) and "failed" not in summary, out.stdout[-2000:]


def test_compose_refuses_a_shared_setting_constrained_differently() -> None:
    core = spec_schema._read(spec_schema.IMAGES)

    def frag(name: str, settings: dict[str, object]) -> dict[str, object]:
        return {"$id": f"urn:reconciler:provider:{name}",
                "$defs": {"settings": {"properties": settings}, "image": {"properties": {}}}}

    same = spec_schema.compose(core, {
        "a": frag("a", {"zone": {"description": "A's words", "type": "string"}}),
        "b": frag("b", {"zone": {"description": "B's words", "type": "string"}}),
    })
    assert same["$defs"]["catalog"]["properties"]["zone"] == {
        "$ref": "urn:reconciler:provider:a#/$defs/settings/properties/zone"}
    with pytest.raises(ValueError, match="constrain the settings field 'zone' differently"):
        spec_schema.compose(core, {
            "a": frag("a", {"zone": {"description": "", "type": "string"}}),
            "b": frag("b", {"zone": {"description": "", "type": "integer"}}),
        })
    with pytest.raises(ValueError, match="redefines the core catalog field 'name'"):
        spec_schema.compose(core, {"a": frag("a", {"name": {"description": "", "type": "string"}})})


# --------------------------------------------------------------------------------------------------
# The built-in providers follow the same recipe

BUILT_IN = ("local", "azure", "azure-classic")


def _closed(node: object, where: str) -> list[str]:
    if isinstance(node, dict):
        found = [where] if "properties" in node and node.get("type") == "object" and (
            node.get("additionalProperties") is not False) else []
        return found + [w for k, v in node.items() for w in _closed(v, f"{where}/{k}")]
    if isinstance(node, list):
        return [w for i, v in enumerate(node) for w in _closed(v, f"{where}/{i}")]
    return []


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_built_in_provider_is_one_package_with_its_fragment_and_a_harness(name: str) -> None:
    import jsonschema

    package = registry.package(name)
    frag = registry.fragment(name)
    jsonschema.Draft202012Validator.check_schema(frag)
    assert package.NAME == name and frag["$id"] == f"urn:reconciler:provider:{name}"
    assert _closed(frag, "#") == []
    settings = registry.described(package.__name__, "settings")  # type: ignore[attr-defined]
    fields = registry.described(package.__name__, "image")  # type: ignore[attr-defined]
    modes = [{}, {"gallery": "shared_images"}] if name == "azure" else [{}]
    for mode in modes:
        caps = package.capabilities(mode)
        assert dict(caps.settings) == settings  # the fragment's, not written a second time
        assert caps.image_fields.items() <= fields.items()
    assert set(package.ENVIRONMENT) <= set(settings)
    harnesses = (ROOT / "tests" / "contract").glob("harness_*.py")
    assert any(f'provider="{name}"' in h.read_text() for h in harnesses), f"no contract harness opens {name}"


def test_classic_documents_the_x_ms_version_it_sends() -> None:
    from reconciler.providers.classic.client import DEFAULT_VERSION

    described = registry.described("reconciler.providers.classic", "settings")
    assert f"(default {DEFAULT_VERSION})" in described["x_ms_version"]


def test_the_environment_mapping_is_the_providers() -> None:
    assert dict(registry.environment_defaults()) == {"AZURE_SUBSCRIPTION_ID": "subscription"}
