"""The classic Service Management API's XML: element orders, builders, the parser and the error body.

Layer: emulator (pure functions over ``xml.etree``; no state, no sockets). Image records hold the wire
element names of the real service (``Name``, ``Label``, ``OSDiskConfiguration``...), so what a test
seeds is what the list responses return, in the fixtures' element order (CONTRACT §6.1, §6.2).
"""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from typing import Any

NS = "http://schemas.microsoft.com/windowsazure"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_Q = "{" + NS + "}"
XML_TYPE = "application/xml; charset=utf-8"

# Element order of list responses, as the fixtures show them (CONTRACT §6.1, §6.2).
VM_IMAGE_ORDER = (
    "Name", "Label", "Category", "Description", "OSDiskConfiguration", "DataDiskConfigurations",
    "ServiceName", "DeploymentName", "RoleName", "AffinityGroup", "Location", "CreatedTime",
    "ModifiedTime", "Language", "ImageFamily", "RecommendedVMSize", "IsPremium", "Eula", "IconUri",
    "SmallIconUri", "PrivacyUri", "PublisherName", "PublishedDate", "ShowInGui", "PricingDetailLink",
    "VMImageState", "RoleStateOnCapture", "RoleSizeOnCapture",
)
OS_DISK_ORDER = ("Name", "HostCaching", "OSState", "OS", "MediaLink", "LogicalDiskSizeInGB", "IOType")
DATA_DISK_ORDER = ("Name", "HostCaching", "Lun", "MediaLink", "LogicalDiskSizeInGB", "IOType")
OS_IMAGE_ORDER = (
    "AffinityGroup", "Category", "Label", "Location", "LogicalSizeInGB", "MediaLink", "Name", "OS",
    "Eula", "Description", "ImageFamily", "ShowInGui", "PublishedDate", "IsPremium", "IconUri",
    "PrivacyUri", "RecommendedVMSize", "PublisherName", "PricingDetailLink", "SmallIconUri",
    "Language", "OSState", "IOType",
)
# Role instance status -> PowerState element, for Get Deployment.
_POWER = {
    "ReadyRole": "Started", "StoppedVM": "Stopped", "StoppedDeallocated": "Stopped",
    "StartingVM": "Starting", "StoppingVM": "Stopping", "StoppingRole": "Stopping",
    "Provisioning": "Starting", "CreatingVM": "Starting", "RoleStateUnknown": "Unknown",
}


class ClassicError(Exception):
    """An error answer: status, ``<Error><Code>``, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _el(tag: str) -> str:
    return _Q + tag


def root(tag: str) -> ET.Element:
    return ET.Element(tag, {"xmlns": NS, "xmlns:i": XSI})


def add(parent: ET.Element, tag: str, value: Any) -> None:
    if value is None or value == "":
        return  # §6.3: null values are left out, never emitted empty
    if isinstance(value, bool):
        value = "true" if value else "false"
    ET.SubElement(parent, tag).text = str(value)


def serialize(el: ET.Element) -> bytes:
    out: bytes = ET.tostring(el, encoding="utf-8", xml_declaration=False)
    return out


def text(el: ET.Element, tag: str) -> str | None:
    """Text of a direct child by local name, in the namespace or not; None when absent or empty."""
    for child in el:
        if child.tag in (_el(tag), tag):
            t = (child.text or "").strip()
            return t or None
    return None


def child(el: ET.Element, tag: str) -> ET.Element | None:
    for c in el:
        if c.tag in (_el(tag), tag):
            return c
    return None


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse(body: bytes, expected_root: str | None) -> ET.Element:
    """Parse a request body with a real XML parser; §11.4 errors for bad XML or the wrong root."""
    try:
        el = ET.fromstring(body)
    except ET.ParseError as e:
        raise ClassicError(400, "InvalidXmlRequest", f"The request body's XML was invalid: {e}.") from e
    if expected_root is not None and local(el.tag) != expected_root:
        raise ClassicError(400, "InvalidXmlRequest", f"Expected a {expected_root} element, got {local(el.tag)}.")
    return el


def error_body(code: str, message: str) -> bytes:
    el = root("Error")
    add(el, "Code", code)
    add(el, "Message", message)
    return serialize(el)


def iso(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- images ------------------------------------------------------------------------------------------
def vm_image_xml(parent: ET.Element, img: dict[str, Any]) -> None:
    """Append one ``<VMImage>`` for a stored record."""
    el = ET.SubElement(parent, "VMImage")
    for key in VM_IMAGE_ORDER:
        if key == "OSDiskConfiguration":
            osd = ET.SubElement(el, key)
            for k in OS_DISK_ORDER:
                add(osd, k, (img.get(key) or {}).get(k))
        elif key == "DataDiskConfigurations":
            dds = ET.SubElement(el, key)
            for disk in img.get(key) or []:
                dd = ET.SubElement(dds, "DataDiskConfiguration")
                for k in DATA_DISK_ORDER:
                    add(dd, k, disk.get(k))
        else:
            add(el, key, img.get(key))


def os_image_xml(parent: ET.Element | None, img: dict[str, Any]) -> ET.Element:
    """One ``<OSImage>`` (a root when ``parent`` is None)."""
    el = root("OSImage") if parent is None else ET.SubElement(parent, "OSImage")
    for key in OS_IMAGE_ORDER:
        add(el, key, img.get(key))
    return el


# ---- operations, services, deployments ---------------------------------------------------------------
def operation_xml(op_id: str, status: str, http_status: int, error: tuple[str, str] | None) -> bytes:
    el = root("Operation")
    add(el, "ID", str(uuid.UUID(hex=op_id)))
    add(el, "Status", status)
    if status != "InProgress":
        add(el, "HttpStatusCode", http_status)
    if error is not None:
        err = ET.SubElement(el, "Error")
        add(err, "Code", error[0])
        add(err, "Message", error[1])
    return serialize(el)


def service_xml(
    parent: ET.Element | None, svc: dict[str, Any], *, url: str, location: str, detail: bool
) -> ET.Element:
    """One ``<HostedService>``; ``url`` is the service's own URL, ``location`` the default region."""
    el = root("HostedService") if parent is None else ET.SubElement(parent, "HostedService")
    add(el, "Url", url)
    add(el, "ServiceName", svc["ServiceName"])
    props = ET.SubElement(el, "HostedServiceProperties")
    add(props, "Description", svc.get("Description"))
    add(props, "Location", svc.get("Location") or location)
    add(props, "Label", svc.get("Label"))
    add(props, "Status", "Created")
    if detail:
        deps = ET.SubElement(el, "Deployments")
        for dep in svc.get("deployments", []):
            deployment_xml(deps, dep)
    return el


def deployment_xml(parent: ET.Element | None, dep: dict[str, Any]) -> ET.Element:
    el = root("Deployment") if parent is None else ET.SubElement(parent, "Deployment")
    add(el, "Name", dep["Name"])
    add(el, "DeploymentSlot", dep.get("DeploymentSlot", "Production"))
    add(el, "Status", "Running")
    instances = ET.SubElement(el, "RoleInstanceList")
    for role in dep.get("roles", []):
        ri = ET.SubElement(instances, "RoleInstance")
        status = role.get("InstanceStatus", "ReadyRole")
        add(ri, "RoleName", role["RoleName"])
        add(ri, "InstanceName", role["RoleName"])
        add(ri, "InstanceStatus", status)
        add(ri, "InstanceSize", role.get("RoleSize", "Small"))
        add(ri, "PowerState", _POWER.get(status, "Unknown"))
    roles = ET.SubElement(el, "RoleList")
    for role in dep.get("roles", []):
        r = ET.SubElement(roles, "Role", {f"{{{XSI}}}type": "PersistentVMRole"})
        add(r, "RoleName", role["RoleName"])
        add(r, "RoleType", "PersistentVMRole")
        dds = ET.SubElement(r, "DataVirtualHardDisks")
        for i, disk in enumerate(role.get("DataDisks") or []):
            d = ET.SubElement(dds, "DataVirtualHardDisk")
            add(d, "DiskName", disk.get("DiskName"))
            add(d, "Lun", int(disk.get("Lun", i)))
            add(d, "LogicalDiskSizeInGB", disk.get("LogicalDiskSizeInGB"))
            add(d, "MediaLink", disk.get("MediaLink"))
        osd = role.get("OSDisk") or {}
        o = ET.SubElement(r, "OSVirtualHardDisk")
        add(o, "DiskName", osd.get("DiskName"))
        add(o, "MediaLink", osd.get("MediaLink"))
        # Get Deployment (learn.microsoft.com/previous-versions/azure/reference/ee460804): a role
        # created from an OS image names it in OSVirtualHardDisk/SourceImageName; one created from
        # a VM image has Role/VMImageName instead (and no SourceImageName).
        add(o, "SourceImageName", osd.get("SourceImageName"))
        add(o, "OS", role.get("OS", "Linux"))
        add(r, "RoleSize", role.get("RoleSize", "Small"))
        add(r, "VMImageName", role.get("VMImageName"))
    return el
