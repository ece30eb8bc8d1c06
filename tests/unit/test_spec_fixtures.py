"""Every file under tests/fixtures/specs/ is a case: valid/ must parse, invalid/ must not.

Directives, as comment lines anywhere in a fixture (put ``expect`` lines at the end so that they
do not move the lines they describe):

* ``# caps: NAME``: the provider capability record to check against (``CAPS`` below; default
  ``local``), so these tests do not depend on the provider modules.
* ``# expect: SEVERITY LINE:COL JSON_PATH | SUMMARY_SUBSTRING``: one expected diagnostic. The
  file's diagnostics must match the expect lines exactly: same number, same order (the order is
  by position), each with its severity, position and path, and a summary containing the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.errors import Diagnostic, SpecError
from reconciler.model import Capabilities, ImageType
from reconciler.spec import check_spec, parse_spec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "specs"

_MUTABLE = frozenset({"family", "label", "description", "recommended_vm_size", "tags", "protect"})
_AZURE_SETTINGS = {
    k: k
    for k in (
        "subscription",
        "resource_group",
        "location",
        "gallery",
        "endpoint",
        "timeout",
        "poll_interval",
        "lock_storage_account",
        "lock_container",
        "lock_endpoint",
    )
}
_GALLERY_FIELDS = {
    k: k
    for k in (
        "end_of_life_date",
        "exclude_from_latest",
        "replica_count",
        "target_regions",
    )
}
#: Gallery mode's family fields (issue 10 §2): publisher, offer, sku, hyper_v_generation moved there.
_GALLERY_FAMILY_FIELDS = {k: k for k in ("description", "publisher", "offer", "sku", "hyper_v_generation",
                                         "security_type", "architecture", "disk_controllers", "end_of_life_date")}

#: Capability records shaped like the real providers' (local: as the brief specifies it).
CAPS: dict[str, Capabilities] = {
    "local": Capabilities(
        provider="local",
        mutable_fields=_MUTABLE,
        specialized_types=frozenset({ImageType.VM}),
        vhd_source=False,
        settings={"path": "SQLite file of the embedded catalog"},
    ),
    "azure": Capabilities(  # managed images: never specialized
        provider="azure",
        mutable_fields=frozenset({"tags", "protect"}),
        specialized_types=frozenset(),
        generalize=True,
        vhd_source=True,
        image_fields={"hyper_v_generation": "V1 or V2"},
        settings=_AZURE_SETTINGS,
    ),
    "gallery": Capabilities(
        provider="azure",
        mutable_fields=frozenset({"tags", "protect", "extra.end_of_life_date"}),
        specialized_types=frozenset({ImageType.VM}),
        generalize=True,
        vhd_source=True,
        disk_sources=True,
        deprovision=True,
        image_fields=_GALLERY_FIELDS,
        family_fields=_GALLERY_FAMILY_FIELDS,
        family_mutable=frozenset({"description", "end_of_life_date"}),
        family_from_name=True,
        settings=_AZURE_SETTINGS,
        name_pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*/\d+\.\d+\.\d+",
        name_hint="in gallery mode a name is DEFINITION/MAJOR.MINOR.PATCH, for example web-base/2026.11.0",
    ),
    "classic": Capabilities(
        provider="azure-classic",
        mutable_fields=frozenset({"label", "description", "family", "recommended_vm_size"}),
        vhd_source=True,
        image_fields={"delete_media": "delete the VHD blobs with the image"},
        settings={
            k: k
            for k in ("subscription", "endpoint", "x_ms_version", "certificate", "publish_settings", "timeout",
                      "poll_interval")
        },
    ),
    "os-only": Capabilities(
        provider="azure-classic",
        mutable_fields=_MUTABLE,
        image_types=frozenset({ImageType.OS}),
        settings={},
    ),
}

_EXPECT = re.compile(r"^# expect: (error|warning) (\d+):(\d+) (\S+) \| (.+)$")
_CAPS = re.compile(r"^# caps: (\S+)$")


@dataclass(frozen=True)
class Expected:
    severity: str
    line: int
    col: int
    path: str
    text: str

    def matches(self, d: Diagnostic) -> bool:
        loc = d.location
        return (
            loc is not None
            and d.severity.value == self.severity
            and (loc.line, loc.col, loc.json_path) == (self.line, self.col, self.path)
            and self.text in d.summary
        )


def _directives(data: bytes) -> tuple[Capabilities, list[Expected]]:
    caps = CAPS["local"]
    expected = []
    for line in data.decode("utf-8").splitlines():
        if m := _CAPS.match(line):
            caps = CAPS[m.group(1)]
        elif m := _EXPECT.match(line):
            sev, ln, col, path, text = m.groups()
            expected.append(Expected(sev, int(ln), int(col), path, text.strip()))
    return caps, expected


def _describe(diags: list[Diagnostic]) -> str:
    return "\n".join(
        f"# expect: {d.severity.value} {d.location.line}:{d.location.col} {d.location.json_path} | {d.summary}"
        for d in diags
        if d.location is not None
    )


def _cases(kind: str) -> list[Path]:
    return sorted((FIXTURES / kind).glob("*.yaml"))


def test_enough_fixtures() -> None:
    assert len(_cases("invalid")) >= 20
    assert len(_cases("valid")) >= 3


@pytest.mark.parametrize("path", _cases("invalid"), ids=lambda p: p.stem)
def test_invalid_fixture(path: Path) -> None:
    data = path.read_bytes()
    caps, expected = _directives(data)
    assert expected, f"{path.name} has no '# expect:' line"
    state, diags = check_spec(data, path.name, capabilities=caps)
    assert state is None
    assert all(d.location is not None and d.location.file == path.name for d in diags)
    assert all(d.hint for d in diags), "every diagnostic says what to do"
    assert len(diags) == len(expected) and all(e.matches(d) for e, d in zip(expected, diags, strict=True)), (
        f"{path.name}: got\n{_describe(diags)}"
    )
    with pytest.raises(SpecError) as info:
        parse_spec(data, path.name, capabilities=caps)
    assert info.value.diagnostics() == [d for d in diags]


@pytest.mark.parametrize("path", _cases("valid"), ids=lambda p: p.stem)
def test_valid_fixture(path: Path) -> None:
    data = path.read_bytes()
    caps, expected = _directives(data)
    state, diags = check_spec(data, path.name, capabilities=caps)
    assert state is not None, _describe(diags)
    assert all(d.severity.value == "warning" for d in diags)
    assert len(diags) == len(expected) and all(e.matches(d) for e, d in zip(expected, diags, strict=True)), (
        f"{path.name}: got\n{_describe(diags)}"
    )
    assert parse_spec(data, path.name, capabilities=caps) == state
