"""The azure-classic wire codec: the shared XML fixtures, the Description marker, VM names, publish settings.

Pure tests (bytes in, model out). The fixtures are read from ``../shared/azure-classic/`` beside
the clone, as CI lays it out; the tests that need them skip with a reason when it is absent.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.model import Category, ImageType, OSState, PowerState
from reconciler.providers.classic import capabilities, wire

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "azure-classic"
needs_fixtures = pytest.mark.skipif(
    not (SHARED / "vmimages.list.response.xml").exists(), reason=f"shared fixtures not found at {SHARED}"
)


def fixture(name: str) -> bytes:
    return (SHARED / name).read_bytes()


@needs_fixtures
def test_vm_image_list_fixture_parses_to_the_expected_images() -> None:
    images = wire.vm_images(fixture("vmimages.list.response.xml"))
    summary = [(i.name, i.type, i.os, i.os_state, i.category, i.data_disks, i.family, i.label) for i in images]
    assert summary == [
        ("web-base-specialized", ImageType.VM, "linux", OSState.SPECIALIZED, Category.USER, 0, None,
         "web base (specialized)"),
        ("sql-golden", ImageType.VM, "windows", OSState.GENERALIZED, Category.USER, 1, "sql", "sql golden"),
        ("0123456789abcdef0123456789abcdef__Example-Public-Image-201506.01", ImageType.VM, "linux",
         OSState.GENERALIZED, Category.PUBLIC, 0, "Example Public Image", "Example Public Image"),
    ]
    spec, sql, public = images
    assert spec.description == "captured from web01 while stopped"
    assert spec.source is not None and spec.source.vm == "web01"  # the role it was captured from
    assert spec.created == "2015-06-01T10:00:00.1234567Z"
    assert sql.recommended_vm_size == "Standard_D2"
    # No marker: nobody owns them, nothing is protected, no tags.
    assert all(i.owner is None and not i.protected and not i.tags for i in images)
    assert public.source is None and public.created == "1801-01-01T00:00:00Z"
    assert len({i.fingerprint for i in images}) == 3


@needs_fixtures
def test_os_image_list_fixture_parses_to_the_expected_images() -> None:
    user, public = wire.os_images(fixture("osimages.list.response.xml"))
    assert (user.name, user.type, user.os, user.os_state, user.category) == (
        "web-base-os", ImageType.OS, "linux", OSState.GENERALIZED, Category.USER)
    assert user.label == "web base (os image)" and user.owner is None and user.description is None
    assert public.category is Category.PUBLIC and public.family == "Example Public OS"
    assert public.recommended_vm_size == "Small" and public.created == "2015-06-01T00:00:00Z"


@needs_fixtures
def test_reading_does_not_depend_on_element_order() -> None:
    root = ET.fromstring(fixture("vmimages.list.response.xml"))
    for image in root:
        image[:] = list(reversed(list(image)))  # every child reversed, nested ones left as they are
    shuffled = wire.vm_images(ET.tostring(root))
    original = wire.vm_images(fixture("vmimages.list.response.xml"))
    assert [(i.name, i.os_state, i.data_disks, i.label) for i in shuffled] == [
        (i.name, i.os_state, i.data_disks, i.label) for i in original]
    assert [i.fingerprint for i in shuffled] == [i.fingerprint for i in original]


@needs_fixtures
def test_operation_and_error_fixtures_parse() -> None:
    assert wire.operation(fixture("operation.inprogress.response.xml")).status == "InProgress"
    ok = wire.operation(fixture("operation.succeeded.response.xml"))
    assert (ok.status, ok.http_status) == ("Succeeded", 200)
    failed = wire.operation(fixture("operation.failed.response.xml"))
    assert (failed.status, failed.http_status, failed.code) == ("Failed", 409, "ConflictError")
    assert wire.error_of(fixture("error.resource-not-found.response.xml")) == (
        "ResourceNotFound", "The image with the specified name does not exist.")
    assert wire.error_of(fixture("error.forbidden.response.xml"))[0] == "ForbiddenError"


@needs_fixtures
def test_request_bodies_we_build_carry_what_the_fixtures_carry() -> None:
    body = wire.build("CaptureRoleAsVMImageOperation", [
        ("OperationType", "CaptureRoleAsVMImageOperation"), ("OSState", "Specialized"),
        ("VMImageName", "web-base-specialized"), ("VMImageLabel", "web base (specialized)"),
        ("Description", "captured from web01 while stopped"), ("Language", "English"), ("ImageFamily", "web"),
        ("RecommendedVMSize", "Small"),
    ])

    def fields(xml: bytes) -> list[tuple[str, str]]:
        root = ET.fromstring(xml)
        return [(c.tag, (c.text or "").strip()) for c in root]

    assert ET.fromstring(body).tag == f"{{{wire.NS}}}CaptureRoleAsVMImageOperation"
    assert fields(body) == fields(fixture("capture-vmimage.request.xml"))


def test_values_are_escaped_and_empty_ones_left_out() -> None:
    body = wire.build("VMImage", [("Label", "a <b> & 'c'"), ("Description", ""), ("ImageFamily", None),
                                  ("ShowInGui", False)])
    root = ET.fromstring(body)
    assert [wire.local(c.tag) for c in root] == ["Label", "ShowInGui"]
    assert wire.text(root, "Label") == "a <b> & 'c'" and wire.text(root, "ShowInGui") == "false"


# --------------------------------------------------------------------------------------------------
# The marker


def test_marker_round_trips_through_the_description() -> None:
    marker = wire.Marker(owner="platform", protected=True, tags={"team": "web"}, source="svc/web01",
                         label_defaulted=True, extra={"delete_media": True})
    raw = wire.compose_description("nginx baseline\nsecond line", marker)
    assert raw.splitlines()[-1].startswith("reconciler: {")
    assert wire.split_description(raw) == ("nginx baseline\nsecond line", marker)
    assert wire.split_description(marker.line()) == (None, marker)


@given(
    description=st.one_of(st.none(), st.text(min_size=1).filter(lambda s: s.strip() == s and "\r" not in s)),
    owner=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    protected=st.booleans(),
    tags=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=4),
)
def test_marker_round_trip_property(description: str | None, owner: str | None, protected: bool,
                                    tags: dict[str, str]) -> None:
    marker = wire.Marker(owner=owner, protected=protected, tags=tags)
    user, back = wire.split_description(wire.compose_description(description, marker))
    assert back == marker
    assert user == (description or None)


@pytest.mark.parametrize("raw", [
    "plain text",
    "reconciler: not json",
    "text\nreconciler: [1, 2]",
    "reconciler: {\"owner\": \"x\"}\nmore text after the marker",
])
def test_text_without_a_valid_last_marker_line_is_only_user_text(raw: str) -> None:
    assert wire.split_description(raw) == (raw, None)


def test_a_marker_on_a_public_image_is_ignored() -> None:
    body = wire.build("Images", [])
    root = ET.fromstring(body)
    img = ET.SubElement(root, "OSImage")
    for tag, value in (("Name", "pub"), ("Category", "Public"), ("OS", "Linux"), ("Label", "Pub"),
                       ("Description", wire.Marker(owner="platform").line())):
        ET.SubElement(img, tag).text = value
    (image,) = wire.os_images(ET.tostring(root))
    assert image.category is Category.PUBLIC and image.owner is None
    assert image.description == wire.Marker(owner="platform").line()


def test_other_categories_are_read_only() -> None:
    xml = (f'<Images xmlns="{wire.NS}"><OSImage><Name>x</Name><Category>MSDN</Category><OS>Windows</OS>'
           f"<Label>x</Label></OSImage></Images>")
    (image,) = wire.os_images(xml)
    assert image.category is Category.PUBLIC


# --------------------------------------------------------------------------------------------------
# VMs (roles)


def _role(service: str, deployment: str, name: str, slot: str = "Production") -> wire.Role:
    return wire.Role(service=service, deployment=deployment, slot=slot, name=name, os="linux",
                     power_state=PowerState.STOPPED, instance_status="StoppedVM", os_disk="", data_disks=(),
                     size="Small", fingerprint="")


def test_vm_names_are_the_shortest_unambiguous_form() -> None:
    roles = [_role("a", "a", "web"), _role("b", "b", "web"), _role("c", "prod", "db"),
             _role("c", "stage", "db", "Staging"), _role("c", "prod", "solo")]
    assert sorted(wire.vm_names(roles)) == ["a/web", "b/web", "c/prod/db", "c/stage/db", "solo"]


def test_resolve_vm_accepts_all_three_forms() -> None:
    roles = [_role("a", "a", "web"), _role("b", "b", "web"), _role("c", "prod", "db"),
             _role("c", "stage", "db", "Staging")]
    assert [r.path for r in wire.resolve_vm("web", roles)] == ["a/a/web", "b/b/web"]  # ambiguous
    assert [r.path for r in wire.resolve_vm("B/Web", roles)] == ["b/b/web"]
    assert [r.path for r in wire.resolve_vm("c/db", roles)] == ["c/prod/db"]  # production wins
    assert [r.path for r in wire.resolve_vm("c/stage/db", roles)] == ["c/stage/db"]
    assert wire.resolve_vm("nope", roles) == []


def test_deployment_roles_map_instance_status_to_power_state() -> None:
    xml = f"""<HostedService xmlns="{wire.NS}"><ServiceName>svc</ServiceName>
      <HostedServiceProperties><Description>reconciler: {{"generalized":["b"]}}</Description></HostedServiceProperties>
      <Deployments><Deployment><Name>dep</Name><DeploymentSlot>Production</DeploymentSlot>
        <RoleInstanceList>
          <RoleInstance><InstanceStatus>ReadyRole</InstanceStatus><RoleName>a</RoleName></RoleInstance>
          <RoleInstance><RoleName>b</RoleName><InstanceStatus>StoppedDeallocated</InstanceStatus></RoleInstance>
          <RoleInstance><RoleName>c</RoleName><PowerState>Stopped</PowerState></RoleInstance>
        </RoleInstanceList>
        <RoleList>
          <Role><RoleName>a</RoleName><OSVirtualHardDisk><OS>Linux</OS><DiskName>a-os</DiskName></OSVirtualHardDisk></Role>
          <Role><OSVirtualHardDisk><OS>Windows</OS></OSVirtualHardDisk><RoleName>b</RoleName>
            <DataVirtualHardDisks><DataVirtualHardDisk><DiskName>b-d0</DiskName></DataVirtualHardDisk>
            </DataVirtualHardDisks></Role>
          <Role><RoleName>c</RoleName></Role>
        </RoleList></Deployment></Deployments></HostedService>"""
    svc = wire.service(xml)
    assert [(r.name, r.power_state, r.os, r.data_disks) for r in svc.roles] == [
        ("a", PowerState.RUNNING, "linux", ()), ("b", PowerState.DEALLOCATED, "windows", ("b-d0",)),
        ("c", PowerState.STOPPED, "", ())]
    assert wire.generalized_roles(svc.description) == {"b"}
    vm = wire.vm_of("b", svc.roles[1], {"b"})
    assert vm.os_state is OSState.GENERALIZED and vm.id == "svc/dep/b"


# --------------------------------------------------------------------------------------------------
# Publish settings and capabilities


def test_publish_settings_both_schemas() -> None:
    cert = base64.b64encode(b"pkcs12").decode()
    v2 = f"""<PublishData><PublishProfile SchemaVersion="2.0" PublishMethod="AzureServiceManagementAPI">
      <Subscription ServiceManagementUrl="https://management.core.chinacloudapi.cn/" Id="sub-1" Name="one"
        ManagementCertificate="{cert}" /></PublishProfile></PublishData>"""
    v1 = f"""<PublishData><PublishProfile PublishMethod="AzureServiceManagementAPI"
      Url="https://management.core.windows.net/" ManagementCertificate="{cert}">
      <Subscription Id="sub-2" Name="two" /></PublishProfile></PublishData>"""
    assert wire.publish_profiles(v2) == [
        wire.PublishProfile("sub-1", "one", "https://management.core.chinacloudapi.cn", cert)]
    assert wire.publish_profiles(v1) == [wire.PublishProfile("sub-2", "two", "https://management.core.windows.net",
                                                             cert)]


def test_capabilities_are_pure_and_name_what_the_api_can_change() -> None:
    caps = capabilities({})
    assert caps.provider == "azure-classic"
    assert {"label", "description", "family", "recommended_vm_size", "tags", "protect"} <= caps.mutable_fields
    assert caps.specialized_types == frozenset({ImageType.VM})
    assert caps.consumes_vm == "deletes the source VM" and not caps.generalize and not caps.vhd_source
    assert "delete_media" in caps.image_fields
    assert {"subscription", "endpoint", "x_ms_version", "certificate", "publish_settings", "timeout",
            "poll_interval"} <= set(caps.settings)
