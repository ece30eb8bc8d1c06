"""The public-image views (issue 14): newest per family, the URN table, flat JSON, publishers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model import Category, Image, ImageType, OSState, PublicListing
from reconciler.render import (
    families_json,
    newest_per_family,
    publishers_json,
    render_public_json,
    render_public_table,
    render_publishers,
)
from reconciler.render.listings import version_key


@dataclass(frozen=True)
class Facts:
    fields: Mapping[str, Any]

    def document_fields(self) -> Mapping[str, Any]:
        return self.fields


def img(name: str, family: str | None = None, created: str = "", facts: dict[str, Any] | None = None,
        type_: ImageType = ImageType.OS) -> Image:
    return Image(name=name, type=type_, os="linux", os_state=OSState.GENERALIZED, category=Category.PUBLIC,
                 family=family, created=created, facts=Facts(facts) if facts is not None else None)


def test_versions_compare_by_number() -> None:
    assert version_key("9.0.1") < version_key("9.0.10") < version_key("10.0.0")
    assert version_key("1.0.0-beta") > version_key("1.0.0")  # text after numbers sorts last, stably
    assert sorted(["24.04.202411030", "24.04.202409120"], key=version_key)[0] == "24.04.202409120"


def test_newest_per_family_by_version_then_date() -> None:
    images = [img("P:O:S:9.0.1", "P:O:S"), img("P:O:S:10.0.0", "P:O:S"), img("P:O:T:1.0.0", "P:O:T"),
              img("g/d/2.0.0", "d", created="2025-01-01T00:00:00Z"),
              img("g/d/1.5.0", "d", created="2025-06-01T00:00:00Z"),
              img("lonely")]
    assert [i.name for i in newest_per_family(images)] == ["g/d/1.5.0", "lonely", "P:O:S:10.0.0", "P:O:T:1.0.0"]
    # Families compare without case.
    assert [i.name for i in newest_per_family([img("a:1", "F"), img("a:2", "f")])] == ["a:2"]


def test_families_newest_uses_versions_when_there_is_no_date() -> None:
    (fam,) = families_json([img("P:O:S:9.0.1", "P:O:S"), img("P:O:S:10.0.0", "P:O:S")])
    assert (fam["family"], fam["images"], fam["newest"]) == ("P:O:S", 2, "P:O:S:10.0.0")


def test_the_public_table_shows_what_picking_a_base_image_needs() -> None:
    facts = {"urn": "P:O:S:1.0.0", "hyper_v_generation": "V2", "architecture": "Arm64",
             "security_type": "TrustedLaunchSupported", "plan": {"publisher": "p", "product": "o", "name": "s"}}
    out = render_public_table([img("P:O:S:1.0.0", "P:O:S", facts=facts, type_=ImageType.VM),
                               img("g/d/1.0.0", "d", created="2025-01-01T00:00:00Z",
                                   facts={"urn": "/CommunityGalleries/g/Images/d/Versions/1.0.0", "plan": None,
                                          "image_state": None}),
                               img("P:O:S:0.1.0", facts={"urn": "P:O:S:0.1.0", "image_state": "Deprecated"})])
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["URN", "OS", "TYPE", "GEN", "ARCH", "SECURITY", "PLAN", "PUBLISHED"]
    assert lines[1] == ["P:O:S:1.0.0", "linux", "vm", "V2", "Arm64", "TrustedLaunchSupported", "yes", "-"]
    assert lines[2] == ["/CommunityGalleries/g/Images/d/Versions/1.0.0", "linux", "os", "-", "-", "-", "no",
                        "2025-01-01T00:00:00Z"]
    assert lines[3][-1] == "deprecated"
    assert render_public_table([]) == "No images found.\n"


def test_the_public_table_escapes_control_characters() -> None:
    out = render_public_table([img("x", facts={"urn": "P:\x1b[31mO:S:1"})])
    assert "\x1b" not in out


def test_public_json_is_flat_with_the_facts() -> None:
    (doc,) = render_public_json([img("P:O:S:1.0.0", "P:O:S", facts={"urn": "P:O:S:1.0.0", "architecture": "x64"})])
    assert doc == {"name": "P:O:S:1.0.0", "family": "P:O:S", "type": "os", "os": "linux", "os_state": "generalized",
                   "data_disks": 0, "created": None, "id": "", "urn": "P:O:S:1.0.0", "architecture": "x64"}
    (plain,) = render_public_json([img("n")])
    assert "urn" not in plain and plain["name"] == "n"


def test_publishers_as_table_and_json() -> None:
    listing = PublicListing(publishers=("Canonical", "RedHat"), location="westeurope")
    assert render_publishers(listing).splitlines() == ["PUBLISHER  LOCATION", "Canonical  westeurope",
                                                       "RedHat     westeurope"]
    assert publishers_json(listing) == [{"publisher": "Canonical", "location": "westeurope"},
                                        {"publisher": "RedHat", "location": "westeurope"}]
    assert render_publishers(PublicListing(location="x")) == "No publishers found in x.\n"
