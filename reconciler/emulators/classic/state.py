"""The classic emulator's state: its JSON shape, lookups, and the image and service changes.

Layer: emulator (no sockets, no threads; the server holds the lock around every call). The state is
plain JSON-able data (the shape is in ``ClassicEmulator``'s docstring); ``Store`` works on that dict
in place, so ``emulator.state`` is always what the requests see.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..base import read_state_file
from .wire import ClassicError, child, iso, os_image_xml, parse, root, serialize, text, vm_image_xml

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
# What Update VM Image / Update OS Image may change (merge: absent or empty means unchanged).
VM_IMAGE_UPDATABLE = (
    "Label", "Description", "Language", "ImageFamily", "RecommendedVMSize", "Eula", "IconUri",
    "SmallIconUri", "PrivacyUri", "PublishedDate", "ShowInGui",
)
OS_IMAGE_UPDATABLE = VM_IMAGE_UPDATABLE + ("IsPremium",)


def with_defaults(state: dict[str, Any]) -> dict[str, Any]:
    """Fill the keys a state may leave out (in place; returns it)."""
    state.setdefault("subscription", DEFAULT_SUBSCRIPTION)
    for key in ("certificates", "tokens", "os_images", "vm_images", "hosted_services"):
        state.setdefault(key, [])
    state.setdefault("location", "West US")
    return state


def load_state(path: str) -> dict[str, Any]:
    """Read a ``--state`` file (JSON, or YAML when PyYAML parses it)."""
    data = read_state_file(Path(path), yaml=True)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the emulator state must be a mapping")
    return data


def iter_roles(state: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(service, deployment, role) of every role in a state, for tests and seeding."""
    for svc in state.get("hosted_services", []):
        for dep in svc.get("deployments", []):
            for role in dep.get("roles", []):
                yield svc["ServiceName"], dep["Name"], role


class Store:
    """Lookups and changes over one state dict. ``pending``: (kind, casefolded name) of captures in flight."""

    def __init__(self, data: dict[str, Any], now: Callable[[], dt.datetime]) -> None:
        self.data = data
        self.now = now
        self.pending: set[tuple[str, str]] = set()

    # -- lookups -----------------------------------------------------------------------------------
    def find_image(self, kind: str, name: str) -> dict[str, Any] | None:
        key = name.casefold()
        images: list[dict[str, Any]] = self.data[kind]
        for img in images:
            if str(img.get("Name", "")).casefold() == key:
                return img
        return None

    def need(self, kind: str, name: str) -> dict[str, Any]:
        img = self.find_image(kind, name)
        if img is None:
            raise ClassicError(404, "ResourceNotFound", "The image with the specified name does not exist.")
        return img

    def service(self, name: str) -> dict[str, Any]:
        services: list[dict[str, Any]] = self.data["hosted_services"]
        for svc in services:
            if svc["ServiceName"].casefold() == name.casefold():
                return svc
        raise ClassicError(404, "ResourceNotFound", "The hosted service does not exist.")

    def deployment(self, svc: dict[str, Any], *, name: str | None = None, slot: str | None = None) -> dict[str, Any]:
        deployments: list[dict[str, Any]] = svc.get("deployments", [])
        for dep in deployments:
            if name is not None and dep["Name"].casefold() == name.casefold():
                return dep
            if slot is not None and dep.get("DeploymentSlot", "Production").casefold() == slot.casefold():
                return dep
        raise ClassicError(404, "ResourceNotFound", "No deployments were found.")

    def role(self, dep: dict[str, Any], name: str) -> dict[str, Any]:
        roles: list[dict[str, Any]] = dep.get("roles", [])
        for role in roles:
            if role["RoleName"].casefold() == name.casefold():
                return role
        raise ClassicError(404, "ResourceNotFound", "The role does not exist.")

    def check_free(self, kind: str, name: str) -> None:
        """§11.3: names are unique per kind, case-insensitively; captures in flight count."""
        if self.find_image(kind, name) is not None or (kind, name.casefold()) in self.pending:
            raise ClassicError(409, "ConflictError", f"An image named {name} already exists.")

    @staticmethod
    def check_user(img: dict[str, Any]) -> None:
        if str(img.get("Category", "")).casefold() != "user":
            raise ClassicError(400, "BadRequest", "Only images of category User can be changed or deleted.")

    # -- images ------------------------------------------------------------------------------------
    def list_os_images(self) -> bytes:
        el = root("Images")
        for img in self.data["os_images"]:
            os_image_xml(el, img)
        return serialize(el)

    def list_vm_images(self, query: dict[str, list[str]]) -> bytes:
        el = root("VMImages")
        loc = (query.get("location") or [""])[0].casefold()
        pub = (query.get("publisher") or [""])[0].casefold()
        cat = (query.get("category") or [""])[0].casefold()
        for img in self.data["vm_images"]:
            if loc and loc not in [x.strip().casefold() for x in str(img.get("Location", "")).split(";")]:
                continue
            if pub and str(img.get("PublisherName", "")).casefold() != pub:
                continue
            if cat and str(img.get("Category", "")).casefold() != cat:
                continue
            vm_image_xml(el, img)
        return serialize(el)

    def add_os_image(self, body: bytes) -> bytes:
        el = parse(body, "OSImage")
        name, label, link, os_name = (text(el, k) for k in ("Name", "Label", "MediaLink", "OS"))
        if not (name and label and link and os_name):
            raise ClassicError(400, "BadRequest", "Name, Label, MediaLink and OS are required.")
        self.check_free("os_images", name)
        img: dict[str, Any] = {
            "Category": "User", "Label": label, "Location": self.data["location"], "LogicalSizeInGB": 30,
            "MediaLink": link, "Name": name, "OS": os_name, "IsPremium": False, "OSState": "Generalized",
            "IOType": "Standard",
        }
        for key in OS_IMAGE_UPDATABLE:
            if text(el, key) is not None and key not in img:
                img[key] = text(el, key)
        self.data["os_images"].append(img)
        return serialize(os_image_xml(None, img))

    def merge(self, img: dict[str, Any], body: ET.Element, fields: tuple[str, ...]) -> None:
        """§11.6: merge; absent or empty elements leave the value unchanged."""
        self.check_user(img)
        for key in fields:
            value = text(body, key)
            if value is not None:
                img[key] = value
        osd = child(body, "OSDiskConfiguration")
        if osd is not None and text(osd, "HostCaching") and "OSDiskConfiguration" in img:
            img["OSDiskConfiguration"]["HostCaching"] = text(osd, "HostCaching")
        dds = child(body, "DataDiskConfigurations")
        for dd in list(dds) if dds is not None else []:
            name = (text(dd, "Name") or "").casefold()
            for disk in img.get("DataDiskConfigurations") or []:
                if str(disk.get("Name", "")).casefold() == name and text(dd, "HostCaching"):
                    disk["HostCaching"] = text(dd, "HostCaching")
        if "ModifiedTime" in img or "CreatedTime" in img:
            img["ModifiedTime"] = iso(self.now())

    def delete_os_image(self, img: dict[str, Any], query: dict[str, list[str]]) -> None:
        self.check_user(img)
        self.data["os_images"].remove(img)
        self.delete_media(query, [img.get("MediaLink")])

    def delete_media(self, query: dict[str, list[str]], links: list[Any]) -> None:
        """§11.7: ``comp=media`` marks the blobs deleted (the emulator keeps a list of them)."""
        if "media" in (query.get("comp") or []):
            self.data.setdefault("deleted_blobs", []).extend(str(x) for x in links if x)

    def delete_vm_image(self, img: dict[str, Any], query: dict[str, list[str]]) -> None:
        if img in self.data["vm_images"]:
            self.data["vm_images"].remove(img)
        links = [(img.get("OSDiskConfiguration") or {}).get("MediaLink")]
        links += [d.get("MediaLink") for d in img.get("DataDiskConfigurations") or []]
        self.delete_media(query, links)

    # -- hosted services and roles -----------------------------------------------------------------
    def create_service(self, body: bytes) -> None:
        el = parse(body, "CreateHostedService")
        name = text(el, "ServiceName")
        if not name:
            raise ClassicError(400, "BadRequest", "ServiceName is required.")
        if any(s["ServiceName"].casefold() == name.casefold() for s in self.data["hosted_services"]):
            raise ClassicError(409, "ConflictError", "The specified DNS name is already taken.")
        self.data["hosted_services"].append({
            "ServiceName": name, "Label": text(el, "Label") or "", "Description": text(el, "Description") or "",
            "Location": text(el, "Location") or self.data["location"], "deployments": [],
        })

    def delete_service(self, svc: dict[str, Any]) -> None:
        if svc.get("deployments"):
            raise ClassicError(409, "ConflictError", "The hosted service has deployments; delete them first.")
        self.data["hosted_services"].remove(svc)

    def disks_for(self, name: str, role: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The disks a capture of ``role`` named ``name`` gets, beside the role's own VHDs."""
        date = self.now().strftime("%Y-%m-%d")
        osd = role.get("OSDisk") or {}
        base = str(osd.get("MediaLink") or f"https://emulatorstore.blob.core.windows.net/vhds/{role['RoleName']}.vhd")
        container = base.rsplit("/", 1)[0]
        os_disk = {
            "Name": f"{name}-os-{date}", "HostCaching": "ReadWrite", "OSState": None, "OS": role.get("OS", "Linux"),
            "MediaLink": f"{container}/{name}-os-{date}.vhd",
            "LogicalDiskSizeInGB": int(osd.get("LogicalDiskSizeInGB") or 30), "IOType": "Standard",
        }
        data = []
        for i, disk in enumerate(role.get("DataDisks") or []):
            data.append({
                "Name": f"{name}-datadisk-{i}-{date}", "HostCaching": disk.get("HostCaching", "None"),
                "Lun": int(disk.get("Lun", i)), "MediaLink": f"{container}/{name}-datadisk-{i}-{date}.vhd",
                "LogicalDiskSizeInGB": int(disk.get("LogicalDiskSizeInGB") or 1023), "IOType": "Standard",
            })
        return os_disk, data

    @staticmethod
    def remove_role(svc: dict[str, Any], dep: dict[str, Any], role: dict[str, Any]) -> None:
        """§11.4: the role goes; a deployment left without roles goes too."""
        if role in dep.get("roles", []):
            dep["roles"].remove(role)
        if not dep.get("roles") and dep in svc.get("deployments", []):
            svc["deployments"].remove(dep)
