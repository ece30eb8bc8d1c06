"""The classic Service Management wire format: XML in and out, and the reconciler marker.

Layer: pure core of the ``azure-classic`` provider (bytes in, model out; no I/O, no ``requests``).
Readers look children up by local name under the ``http://schemas.microsoft.com/windowsazure``
namespace (or none) and never rely on element order; writers build with ``xml.etree`` so every
value is escaped.

The marker: classic images carry no tags, so ownership, protection, user tags, the recorded source
and ``delete_media`` live in the last line of the image's ``Description`` (visible in the portal
and in ``Get-AzureVMImage``)::

    nginx baseline
    reconciler: {"owner":"platform","protected":true,"source":"build-web-01","tags":{"team":"web"}}

The same line format on a cloud service's ``Description`` marks which of its VMs (roles) are
generalized (``{"generalized":["web01"]}``): the classic API has no per-VM OS state (design note
in docs/azure-classic.md).
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model import VM, Category, Image, ImageType, OSState, PowerState, Source

NS = "http://schemas.microsoft.com/windowsazure"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MARKER_PREFIX = "reconciler: "

# Role instance status -> power state (Get Deployment ``InstanceStatus``; PowerState is coarser).
_INSTANCE_STATUS = {
    "readyrole": PowerState.RUNNING,
    "stoppedvm": PowerState.STOPPED,
    "stoppeddeallocated": PowerState.DEALLOCATED,
    "startingvm": PowerState.STARTING,
    "creatingvm": PowerState.STARTING,
    "provisioning": PowerState.STARTING,
    "startingrole": PowerState.STARTING,
    "busyrole": PowerState.RUNNING,
    "stoppingvm": PowerState.STOPPING,
    "stoppingrole": PowerState.STOPPING,
    "deletingvm": PowerState.STOPPING,
}
_POWER_STATE = {"started": PowerState.RUNNING, "stopped": PowerState.STOPPED, "starting": PowerState.STARTING,
                "stopping": PowerState.STOPPING}


class WireError(ValueError):
    """A response body that is not the XML the contract describes."""


# --------------------------------------------------------------------------------------------------
# Generic XML helpers


def parse(body: bytes | str) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise WireError(f"the service answered with XML that does not parse: {e}") from e


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(el: ET.Element, name: str) -> list[ET.Element]:
    """Direct children named ``name`` in our namespace (or none), in document order."""
    return [c for c in el if c.tag in (f"{{{NS}}}{name}", name)]


def child(el: ET.Element, name: str) -> ET.Element | None:
    found = children(el, name)
    return found[0] if found else None


def text(el: ET.Element | None, name: str) -> str | None:
    """Text of a direct child, stripped; None when absent or empty (the service leaves nulls out)."""
    if el is None:
        return None
    c = child(el, name)
    if c is None or c.text is None:
        return None
    t = c.text.strip()
    return t or None


def build(root: str, fields: Iterable[tuple[str, Any]]) -> bytes:
    """A request body: ``root`` in the namespace, one child per non-empty (name, value), in order."""
    # A literal default-namespace attribute on plain tags: no global ``register_namespace`` state.
    el = ET.Element(root, {"xmlns": NS, "xmlns:i": XSI})
    for name, value in fields:
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        ET.SubElement(el, name).text = str(value)
    body: bytes = ET.tostring(el, encoding="utf-8", xml_declaration=True)  # typeshed: Any for a named encoding
    return body


def error_of(body: bytes | str) -> tuple[str, str]:
    """(Code, Message) of an ``<Error>`` body, ("", "") when there is none."""
    if not body:
        return "", ""
    try:
        el = ET.fromstring(body)
    except ET.ParseError:
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return "", raw.strip()[:300]
    if local(el.tag) != "Error":
        err = child(el, "Error")
        if err is None:
            return "", ""
        el = err
    return text(el, "Code") or "", text(el, "Message") or ""


def _fingerprint(el: ET.Element) -> str:
    """A content hash of an element that ignores child order (the service's order is not stable)."""

    def canon(e: ET.Element) -> Any:
        kids = sorted((local(c.tag), json.dumps(canon(c), sort_keys=True)) for c in e)
        return [local(e.tag), (e.text or "").strip(), kids]

    return hashlib.sha256(json.dumps(canon(el), sort_keys=True).encode()).hexdigest()[:32]


# --------------------------------------------------------------------------------------------------
# The marker


@dataclass(frozen=True)
class Marker:
    """What reconciler keeps in the last line of an image's Description.

    ``label_defaulted``: the Label was set to the name only because the service requires one; the
    image reads back with ``label`` None so a spec without a label plans as a no-op.
    ``extra``: provider fields of the spec (``delete_media``) exactly as declared.
    """

    owner: str | None = None
    protected: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    label_defaulted: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        data: dict[str, Any] = {}
        if self.owner is not None:
            data["owner"] = self.owner
        if self.protected:
            data["protected"] = True
        if self.tags:
            data["tags"] = dict(sorted(self.tags.items()))
        if self.source:
            data["source"] = self.source
        if self.label_defaulted:
            data["label_defaulted"] = True
        for k, v in sorted(self.extra.items()):
            data[k] = v
        return MARKER_PREFIX + json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_MARKER_KEYS = {"owner", "protected", "tags", "source", "label_defaulted"}


def split_description(raw: str | None) -> tuple[str | None, Marker | None]:
    """(user description, marker) of a Description; a malformed marker line is user text."""
    if not raw:
        return None, None
    head, sep, last = raw.rpartition("\n")
    candidate = last if sep else raw
    if not candidate.startswith(MARKER_PREFIX):
        return raw, None
    try:
        data = json.loads(candidate[len(MARKER_PREFIX):])
    except ValueError:
        return raw, None
    if not isinstance(data, dict):
        return raw, None
    tags = data.get("tags") or {}
    owner = data.get("owner")
    marker = Marker(
        owner=owner if isinstance(owner, str) else None,
        protected=data.get("protected") is True,
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        source=data.get("source") if isinstance(data.get("source"), str) else None,
        label_defaulted=data.get("label_defaulted") is True,
        extra={k: v for k, v in data.items() if k not in _MARKER_KEYS},
    )
    user = head if sep else ""
    return (user or None), marker


def compose_description(description: str | None, marker: Marker | None) -> str:
    """The Description to send: the user's text, then the marker line."""
    if marker is None:
        return description or ""
    return f"{description}\n{marker.line()}" if description else marker.line()


def generalized_roles(service_description: str | None) -> set[str]:
    """Casefolded role names a cloud service's Description marks as generalized."""
    if not service_description:
        return set()
    _, marker = split_description(service_description)
    if marker is None:
        return set()
    names = marker.extra.get("generalized")
    return {str(n).casefold() for n in names} if isinstance(names, list) else set()


# --------------------------------------------------------------------------------------------------
# Images


def _category(raw: str | None) -> Category:
    # An open string on the wire (CONTRACT §6.4): only "User" is ours to change.
    return Category.USER if (raw or "").casefold() == "user" else Category.PUBLIC


def _os_state(raw: str | None) -> OSState:
    return OSState.SPECIALIZED if (raw or "").casefold() == "specialized" else OSState.GENERALIZED


def _image(
    el: ET.Element, *, type_: ImageType, os_name: str | None, os_state: OSState, data_disks: int,
    created: str | None, recorded_source: str | None,
) -> Image:
    name = text(el, "Name") or ""
    category = _category(text(el, "Category"))
    description, marker = split_description(text(el, "Description"))
    label = text(el, "Label")
    source: Source | None = None
    owner, protected, tags, extra = None, False, {}, {}
    if category is Category.USER and marker is not None:
        owner, protected, tags, extra = marker.owner, marker.protected, dict(marker.tags), dict(marker.extra)
        extra.pop("generalized", None)
        if marker.label_defaulted and label == name:
            label = None
        if marker.source:
            source = Source(vm=marker.source)
    elif marker is not None:
        # A public image is never ours, whatever its text says; show the text as it is.
        description = text(el, "Description")
    if source is None and recorded_source:
        source = Source(vm=recorded_source)
    kind = "vmimages" if type_ is ImageType.VM else "images"
    return Image(
        name=name,
        type=type_,
        os=(os_name or "").lower(),
        os_state=os_state,
        category=category,
        family=text(el, "ImageFamily"),
        label=label,
        description=description,
        recommended_vm_size=text(el, "RecommendedVMSize"),
        tags=tags,
        owner=owner,
        protected=protected,
        source=source,
        data_disks=data_disks,
        extra=extra,
        id=f"/services/{kind}/{name}",
        fingerprint=_fingerprint(el),
        created=created or "",
    )


def os_image(el: ET.Element) -> Image:
    """An ``<OSImage>``: always generalized; ``created`` is its PublishedDate (OS images have no CreatedTime)."""
    return _image(
        el, type_=ImageType.OS, os_name=text(el, "OS"), os_state=OSState.GENERALIZED, data_disks=0,
        created=text(el, "PublishedDate"), recorded_source=None,
    )


def vm_image(el: ET.Element) -> Image:
    """A ``<VMImage>``: OS disk plus data disks; the source is the role it was captured from."""
    osd = child(el, "OSDiskConfiguration")
    dds = child(el, "DataDiskConfigurations")
    disks = len(children(dds, "DataDiskConfiguration")) if dds is not None else 0
    return _image(
        el, type_=ImageType.VM, os_name=text(osd, "OS"), os_state=_os_state(text(osd, "OSState")),
        data_disks=disks, created=text(el, "CreatedTime"), recorded_source=text(el, "RoleName"),
    )


def os_images(body: bytes | str) -> list[Image]:
    """Every image of a ``<Images>`` list (a single ``<OSImage>`` is accepted too)."""
    root = parse(body)
    if local(root.tag) == "OSImage":
        return [os_image(root)]
    if local(root.tag) != "Images":
        raise WireError(f"expected <Images>, got <{local(root.tag)}>")
    return [os_image(e) for e in children(root, "OSImage")]


def vm_images(body: bytes | str) -> list[Image]:
    root = parse(body)
    if local(root.tag) != "VMImages":
        raise WireError(f"expected <VMImages>, got <{local(root.tag)}>")
    return [vm_image(e) for e in children(root, "VMImage")]


# --------------------------------------------------------------------------------------------------
# Cloud services, deployments, roles


@dataclass(frozen=True)
class Role:
    """One classic VM: a role in a cloud-service deployment."""

    service: str
    deployment: str
    slot: str
    name: str
    os: str
    power_state: PowerState
    instance_status: str
    os_disk: str
    data_disks: tuple[str, ...]
    size: str
    fingerprint: str
    #: The image the role was created from (Get Deployment: ``Role/VMImageName``, else
    #: ``OSVirtualHardDisk/SourceImageName``); "" when it names none.
    image: str = ""

    @property
    def path(self) -> str:
        return f"{self.service}/{self.deployment}/{self.name}"


@dataclass(frozen=True)
class Service:
    name: str
    description: str | None
    roles: tuple[Role, ...]


def service_names(body: bytes | str) -> list[str]:
    root = parse(body)
    return [n for n in (text(e, "ServiceName") for e in children(root, "HostedService")) if n]


def service(body: bytes | str) -> Service:
    """A ``<HostedService>`` fetched with ``embed-detail=true``: its deployments' roles."""
    root = parse(body)
    name = text(root, "ServiceName") or ""
    props = child(root, "HostedServiceProperties")
    roles: list[Role] = []
    deps = child(root, "Deployments")
    for dep in children(deps, "Deployment") if deps is not None else []:
        roles.extend(deployment_roles(name, dep))
    return Service(name=name, description=text(props, "Description"), roles=tuple(roles))


def deployment_roles(service_name: str, dep: ET.Element) -> list[Role]:
    dep_name = text(dep, "Name") or ""
    slot = text(dep, "DeploymentSlot") or "Production"
    instances: dict[str, ET.Element] = {}
    ril = child(dep, "RoleInstanceList")
    for ri in children(ril, "RoleInstance") if ril is not None else []:
        instances[(text(ri, "RoleName") or "").casefold()] = ri
    out = []
    rl = child(dep, "RoleList")
    for role in children(rl, "Role") if rl is not None else []:
        rname = text(role, "RoleName") or ""
        instance = instances.get(rname.casefold())
        status = text(instance, "InstanceStatus") or ""
        power = _INSTANCE_STATUS.get(status.casefold()) or _POWER_STATE.get(
            (text(instance, "PowerState") or "").casefold(), PowerState.UNKNOWN
        )
        osd = child(role, "OSVirtualHardDisk")
        dvs = child(role, "DataVirtualHardDisks")
        data = tuple(
            text(d, "DiskName") or text(d, "MediaLink") or ""
            for d in (children(dvs, "DataVirtualHardDisk") if dvs is not None else [])
        )
        h = hashlib.sha256()
        h.update(_fingerprint(role).encode())
        if instance is not None:
            h.update(_fingerprint(instance).encode())
        out.append(
            Role(
                service=service_name, deployment=dep_name, slot=slot, name=rname,
                os=(text(osd, "OS") or "").lower(), power_state=power, instance_status=status,
                os_disk=text(osd, "DiskName") or text(osd, "MediaLink") or "", data_disks=data,
                size=text(role, "RoleSize") or "", fingerprint=h.hexdigest()[:32],
                image=text(role, "VMImageName") or text(osd, "SourceImageName") or "",
            )
        )
    return out


def vm_names(roles: Iterable[Role]) -> dict[str, Role]:
    """Each role under its shortest unambiguous name: ``role``, else ``service/role``, else
    ``service/deployment/role`` (the forms ``source.vm`` accepts), keyed casefolded."""
    roles = list(roles)
    by_role: dict[str, int] = {}
    by_svc_role: dict[tuple[str, str], int] = {}
    for r in roles:
        by_role[r.name.casefold()] = by_role.get(r.name.casefold(), 0) + 1
        k = (r.service.casefold(), r.name.casefold())
        by_svc_role[k] = by_svc_role.get(k, 0) + 1
    out: dict[str, Role] = {}
    for r in roles:
        if by_role[r.name.casefold()] == 1:
            name = r.name
        elif by_svc_role[(r.service.casefold(), r.name.casefold())] == 1:
            name = f"{r.service}/{r.name}"
        else:
            name = r.path
        out[name] = r
    return out


def vm_aliases(names: Mapping[str, Role]) -> dict[str, str]:
    """The other forms ``source.vm`` may name each role by (``vm_names``' keys): casefolded alias ->
    casefolded listed name, for every form that ``resolve_vm`` resolves to that role alone."""
    roles = list(names.values())
    out: dict[str, str] = {}
    for name, r in names.items():
        for form in (r.path, f"{r.service}/{r.name}", r.name):
            if form.casefold() != name.casefold() and resolve_vm(form, roles) == [r]:
                out.setdefault(form.casefold(), name.casefold())
    return out


def resolve_vm(ref: str, roles: Iterable[Role]) -> list[Role]:
    """The roles a ``source.vm`` names: ``service/deployment/role``, ``service/role`` or ``role``."""
    parts = [p.casefold() for p in ref.split("/")]
    found = []
    for r in roles:
        if len(parts) == 3 and [r.service.casefold(), r.deployment.casefold(), r.name.casefold()] == parts:
            found.append(r)
        elif len(parts) == 2 and [r.service.casefold(), r.name.casefold()] == parts:
            found.append(r)
        elif len(parts) == 1 and r.name.casefold() == parts[0]:
            found.append(r)
    if len(parts) == 2 and len(found) > 1:
        # Production and staging both have the role: the production one is what "service/role" means.
        prod = [r for r in found if r.slot.casefold() == "production"]
        found = prod or found
    return found


def vm_of(name: str, role: Role, generalized: set[str]) -> VM:
    return VM(
        name=name,
        os=role.os,
        power_state=role.power_state,
        os_state=OSState.GENERALIZED if role.name.casefold() in generalized else OSState.SPECIALIZED,
        os_disk=role.os_disk,
        data_disks=role.data_disks,
        id=role.path,
        fingerprint=role.fingerprint,
    )


# --------------------------------------------------------------------------------------------------
# Operations and publish settings


@dataclass(frozen=True)
class OperationStatus:
    """``GET /operations/{id}``: InProgress | Succeeded | Failed, with the failure's code/message."""

    status: str
    http_status: int
    code: str
    message: str


def operation(body: bytes | str) -> OperationStatus:
    root = parse(body)
    err = child(root, "Error")
    raw = text(root, "HttpStatusCode") or "0"
    try:
        http_status = int(raw)
    except ValueError:
        http_status = 200 if raw.casefold() == "ok" else 0
    return OperationStatus(
        status=text(root, "Status") or "",
        http_status=http_status,
        code=text(err, "Code") or "",
        message=text(err, "Message") or "",
    )


@dataclass(frozen=True)
class PublishProfile:
    """One subscription of a ``.publishsettings`` file. ``certificate``: base64 PKCS#12, no password."""

    subscription: str
    name: str
    url: str
    certificate: str


def publish_profiles(body: bytes | str) -> list[PublishProfile]:
    """Every subscription of a ``.publishsettings`` file (schema 1.0 and 2.0)."""
    root = parse(body)
    out = []
    for profile in root.iter("PublishProfile"):
        url1 = profile.get("Url") or "https://management.core.windows.net"
        cert1 = profile.get("ManagementCertificate") or ""
        for sub in profile.iter("Subscription"):
            out.append(
                PublishProfile(
                    subscription=sub.get("Id") or "",
                    name=sub.get("Name") or "",
                    url=(sub.get("ServiceManagementUrl") or url1).rstrip("/"),
                    certificate=sub.get("ManagementCertificate") or cert1,
                )
            )
    return out
