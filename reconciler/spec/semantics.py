"""Checks the schema cannot express: duplicate names, os_state rules, what the provider supports,
and characters a reviewer could not see.

Layer: pure core. Runs on the plain data of a read document (valid or not against the schema:
every check looks before it uses a value) and appends ``Diagnostic``s at the positions a
``Locator`` gives.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import Diagnostic
from ..model import Capabilities, fold
from .messages import field_name, short
from .positions import DataPath, Locator
from .schema import CATALOG_CORE, CORE_IMAGE_FIELDS, validators


@dataclass
class _Context:
    where: Locator
    diags: list[Diagnostic]
    provider: str
    caps: Capabilities | None
    printable: bool = False  # every key and string of the file is printable: no character to check

    def error(self, path: DataPath, summary: str, hint: str, *, key: bool = False) -> None:
        self.diags.append(Diagnostic.error(summary, hint, self.where.loc(path, key=key), "semantic"))

    def warning(self, path: DataPath, summary: str, hint: str, *, key: bool = False) -> None:
        self.diags.append(Diagnostic.warning(summary, hint, self.where.loc(path, key=key), "semantic"))


def _check_catalog_settings(ctx: _Context, catalog: Mapping[str, Any]) -> None:
    if ctx.caps is None:
        return
    known = ctx.caps.settings
    for key in catalog:
        if key in CATALOG_CORE or key not in validators().catalog_props or key in known:
            continue
        hint = (
            f"provider '{ctx.provider}' knows: {', '.join(sorted(known))}"
            if known
            else f"provider '{ctx.provider}' takes no settings"
        )
        ctx.error(("catalog", key), f"setting '{key}' is not known to provider '{ctx.provider}'",
                  f"remove it; {hint}", key=True)


#: The keys of a source that only say what it is: a source of nothing else needs none of the checks
#: of ``_check_source_flags``.
_SOURCE_IDENTITY = frozenset({"vm", "vhd", "image", "snapshot", "disk"})


def _check_source_flags(ctx: _Context, p: DataPath, img: Mapping[str, Any], source: Mapping[str, Any],
                        itype: Any, os_state: Any) -> None:
    """How a source's flags (``generalize``, ``deprovision``, ``sysprepped``) and data disks go
    with the image and with each other."""
    if source.get("generalize") is True and os_state == "specialized":
        ctx.error(p + ("source", "generalize"), "source.generalize contradicts os_state: specialized",
                  "generalizing makes a generalized image: drop generalize or set os_state: generalized")
    os_name = img.get("os")
    if source.get("deprovision") is True and source.get("generalize") is not True:
        ctx.error(p + ("source", "deprovision"), "source.deprovision needs source.generalize: true",
                  "it deprovisions the guest right before the provider generalizes the VM: add generalize: true")
    if source.get("deprovision") is True and os_name == "windows":
        ctx.error(p + ("source", "deprovision"), "source.deprovision runs the Linux agent; this image is Windows",
                  "run Sysprep in the guest yourself and declare source.sysprepped: true", key=True)
    if source.get("sysprepped") is True and os_name == "linux":
        ctx.error(p + ("source", "sysprepped"), "source.sysprepped is for Windows guests; this image is Linux",
                  "use source.deprovision: true (or deprovision the guest yourself) and remove sysprepped",
                  key=True)
    if "data_snapshots" in source and not ("snapshot" in source or "disk" in source):
        ctx.error(p + ("source", "data_snapshots"), "source.data_snapshots goes with source.snapshot or source.disk",
                  "name the OS disk's snapshot or disk too, or remove data_snapshots", key=True)
    if source.get("data_snapshots") and itype == "os":
        ctx.error(p + ("source", "data_snapshots"), "an os image holds no data disks",
                  "use type: vm to capture the data disks too, or remove data_snapshots", key=True)
    if "storage_account" in source and "vm" in source and "vhd" not in source:
        ctx.warning(p + ("source", "storage_account"), "source.storage_account is ignored for a VM source",
                    "it only applies to source.vhd; remove it", key=True)


@functools.lru_cache(maxsize=64)
def _values(kinds: frozenset[Enum]) -> frozenset[str]:
    """The values of a capabilities' set of enums, once per set (not once per image)."""
    return frozenset(k.value for k in kinds)


def _check_image(ctx: _Context, i: int, img: Mapping[str, Any], seen: dict[str, int]) -> None:
    p: DataPath = ("images", i)
    name = img.get("name")
    if isinstance(name, str):
        key = fold(name)  # the name itself when folded: no second copy of each name (issue 13)
        first = seen.setdefault(key, i)  # the entry's index: its line is read only for a duplicate
        if first != i:
            line = ctx.where.line(("images", first))
            ctx.error(p + ("name",), f"duplicate image name '{name}' (first declared on line {line})",
                      "image names compare case-insensitively: rename or remove one")
    itype = img.get("type")
    os_state = img.get("os_state")
    if itype == "vm" and "os_state" not in img:
        ctx.error(p, f"VM image '{name}' must state os_state",
                  "add os_state: generalized (reusable; consumes the VM) or specialized (the VM as it is)")
    if itype == "os" and os_state == "specialized":
        ctx.error(p + ("os_state",), "an OS image is always generalized",
                  "remove os_state, or use type: vm for a specialized image")
    src = img.get("source")
    source: Mapping[str, Any] = src if isinstance(src, dict) else {}
    if not source.keys() <= _SOURCE_IDENTITY:  # a flag or a data disk: most sources name a VM and nothing more
        _check_source_flags(ctx, p, img, source, itype, os_state)

    caps = ctx.caps
    if caps is None:
        return
    prov = ctx.provider
    if not img.keys() <= CORE_IMAGE_FIELDS:  # most entries hold core fields only: no loop (issue 13)
        image_props = validators().image_props
        for key in img:
            if key in CORE_IMAGE_FIELDS or key not in image_props or key in caps.image_fields:
                continue
            if key in MOVED_TO_FAMILIES and key in caps.family_fields:
                fam = img.get("family") if isinstance(img.get("family"), str) else None
                if fam is None and caps.family_from_name and isinstance(name, str) and "/" in name:
                    fam = name.split("/", 1)[0]
                where = f"families.{fam or '<family>'}.{key}"
                ctx.error(p + (key,), f"'{key}' is no longer an image field: move to {where}",
                          f"declare it once per family under {where} (a gallery image definition holds it for "
                          "every version in it) and remove it here", key=True)
                continue
            fields = ", ".join(sorted(caps.image_fields))
            ctx.error(p + (key,), f"field '{key}' is not supported by provider '{prov}'",
                      f"remove it (provider '{prov}' image fields: {fields or 'none'})", key=True)
    types = _values(caps.image_types)
    if isinstance(itype, str) and itype in ("vm", "os") and itype not in types:
        ctx.error(p + ("type",), f"provider '{prov}' cannot hold {itype} images",
                  f"use type: {' or '.join(sorted(types))}")
    if os_state == "specialized" and itype == "vm" and itype not in _values(caps.specialized_types):
        ctx.error(p + ("os_state",), f"provider '{prov}' cannot hold a specialized {itype} image",
                  "capture it generalized, or use a provider that keeps specialized images")
    if "vhd" in source and not caps.vhd_source:
        ctx.error(p + ("source", "vhd"), f"provider '{prov}' cannot capture from a VHD",
                  "use source.vm", key=True)
    for kind in ("image", "snapshot", "disk"):
        if kind in source and not caps.disk_sources and not (kind == "image" and _promotes(source)):
            noun = {"image": "a managed image", "snapshot": "a snapshot", "disk": "a managed disk"}[kind]
            ctx.error(p + ("source", kind), f"provider '{prov}' cannot capture from {noun}",
                      "use source.vm" + (" or source.vhd" if caps.vhd_source else ""), key=True)
    if source.get("deprovision") is True and not caps.deprovision:
        ctx.error(p + ("source", "deprovision"), f"provider '{prov}' cannot deprovision a guest itself",
                  "deprovision the guest yourself (waagent -deprovision+user) and remove source.deprovision",
                  key=True)
    if source.get("generalize") is True and not caps.generalize:
        ctx.error(p + ("source", "generalize"), f"provider '{prov}' cannot generalize a VM itself",
                  "generalize the VM first (sysprep / waagent -deprovision) and remove source.generalize")
    if caps.name_pattern and isinstance(name, str) and not re.fullmatch(caps.name_pattern, name):
        ctx.error(p + ("name",), f"image name '{name}' is not valid for provider '{prov}'",
                  caps.name_hint or f"it must match {caps.name_pattern}")


# Characters a reviewer cannot see (docs/security.md, "What a pull request can put in front of a
# reviewer"). Every human output escapes them anyway (render.escape_controls); the file refuses the
# ones no image needs, so a pull request cannot make its own diff read differently from what it does.

#: Bidirectional controls, the Trojan Source trick (CVE-2021-42574): refused in every string.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CHAR_KINDS = {
    "Cc": "control character",
    "Cf": "invisible formatting character",
    "Cs": "surrogate code point",
    "Co": "private-use character",
    "Cn": "unassigned code point",
    "Zl": "line separator",
    "Zp": "paragraph separator",
    "Zs": "non-standard space",
}


def _char(ch: str) -> tuple[str, str]:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``, and how the outputs show it."""
    from ..render import escape_controls  # the one escaping function of the outputs

    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else ""), escape_controls(ch)


def _text_kind(path: DataPath) -> str:
    """What a string value at ``path`` is: ``description`` / ``text`` (free text) or ``identifier``."""
    if len(path) == 3 and path[0] == "images" and path[2] in ("label", "description"):
        return "description" if path[2] == "description" else "text"
    if len(path) == 4 and path[0] == "images" and path[2] == "tags":
        return "text"
    if len(path) == 3 and path[0] == "families" and path[2] in ("description", "eula"):
        return "description"
    return "identifier"


def _check_string(ctx: _Context, path: DataPath, s: str, *, key: bool) -> None:
    """One diagnostic for the first character of ``s`` a reviewer could not see (``s`` is not printable).

    Bidi controls: an error anywhere. Keys and identifiers (names, families, tag keys, settings):
    an error for anything but printable characters. Free text (label, description, tag values):
    an error for controls other than tab (and line breaks in a description) and for line/paragraph
    separators; a warning for other invisible formatting characters (a zero-width joiner can be
    part of an emoji); other spaces, private-use and unassigned characters pass.
    """
    kind = "identifier" if key else _text_kind(path)
    if key:
        what = f"tag key '{short(s)}'" if len(path) == 4 and path[2:3] == ("tags",) else f"key '{short(s)}'"
    elif path[-1:] == ("name",) and len(path) == 3 and path[0] == "images":
        what = f"image name '{short(s)}'"
    elif kind == "text" and len(path) == 4:
        what = f"the value of tag '{path[3]}'"
    else:
        what = field_name(path)
    warn: tuple[int, str, str] | None = None
    for i, ch in enumerate(s, 1):
        cat = unicodedata.category(ch)
        if ch in _BIDI:
            label, shown = _char(ch)
            ctx.error(path, f"{what} contains the bidirectional control character {label} at character {i}",
                      f"remove it (outputs show it as {shown}): a bidi control can make the plan a reviewer "
                      "reads differ from what it does, and nothing in this file needs one", key=key)
            return
        if cat not in _CHAR_KINDS or (cat == "Zs" and ch == " "):
            continue
        if kind == "identifier":
            label, shown = _char(ch)
            seen = f" (outputs show it as {shown})" if shown != ch else ""  # a space is shown as it is
            ctx.error(path, f"{what} contains the {_CHAR_KINDS[cat]} {label} at character {i}",
                      f"names, keys and settings hold printable characters only: remove it{seen}", key=key)
            return
        if cat == "Cc" and (ch == "\t" or (kind == "description" and ch in "\n\r")):
            continue
        if cat in ("Cc", "Cs", "Zl", "Zp"):
            label, shown = _char(ch)
            allowed = "tabs and line breaks" if kind == "description" else "tabs (a description also line breaks)"
            ctx.error(path, f"{what} contains the {_CHAR_KINDS[cat]} {label} at character {i}",
                      f"remove it (outputs show it as {shown}); the only control characters text may hold are "
                      f"{allowed}", key=key)
            return
        if cat == "Cf" and warn is None:
            warn = (i, *_char(ch))
    if warn is not None:
        i, label, shown = warn
        ctx.warning(path, f"{what} contains the invisible character {label} at character {i}",
                    f"outputs show it as {shown}; remove it unless it is meant (an emoji joiner, say)", key=key)


def _check_characters(ctx: _Context, data: Any, path: DataPath = ()) -> None:
    """Walk every key and string of the file; only non-printable strings are looked at closely."""
    if isinstance(data, str):
        if not data.isprintable():
            _check_string(ctx, path, data, key=False)
    elif isinstance(data, dict):
        for k, v in data.items():
            p = path + (k,)
            if isinstance(k, str) and not k.isprintable():
                _check_string(ctx, p, k, key=True)
            if not isinstance(v, bool | int | float) and v is not None:
                _check_characters(ctx, v, p)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            if isinstance(v, str | dict | list):
                _check_characters(ctx, v, path + (i,))


def _check_semantics(ctx: _Context, data: Mapping[str, Any],
                     pieces: Iterable[tuple[int, Sequence[Any]]] | None = None) -> None:
    """``pieces``: the ``images:`` list a piece at a time (the index of its first entry, its
    entries), each checked as it comes (``check``'s streamed read); None: ``data["images"]``."""
    if not ctx.printable:
        _check_characters(ctx, data)
    catalog = data.get("catalog")
    if isinstance(catalog, dict):
        _check_catalog_settings(ctx, catalog)
    sources = data.get("sources")
    if isinstance(sources, dict):
        _check_sources(ctx, sources, catalog if isinstance(catalog, dict) else {})
    images = data.get("images")
    listed = pieces is not None or isinstance(images, list)
    if pieces is None:
        pieces = [(0, images)] if isinstance(images, list) else []
    families: set[str] = set()
    seen: dict[str, int] = {}
    for start, entries in pieces:
        for i, img in enumerate(entries, start):
            if not isinstance(img, dict):
                continue
            _check_image(ctx, i, img, seen)
            if isinstance(img.get("family"), str):
                families.add(img["family"])
            elif ctx.caps is not None and ctx.caps.family_from_name and "/" in str(img.get("name", "")):
                families.add(str(img["name"]).split("/", 1)[0])  # the family follows from the name
            # Only an entry with a source image or a promote_when has anything to check (issue 13).
            src = img.get("source")
            if "promote_when" in img or (isinstance(src, dict) and "image" in src):
                _check_promotion(ctx, i, img, sources if isinstance(sources, dict) else {})
    declared_families = data.get("families")
    if isinstance(declared_families, dict):
        _check_families(ctx, declared_families, families if listed else None)
    policy = data.get("policy")
    retention = policy.get("retention") if isinstance(policy, dict) else None
    if isinstance(retention, dict) and listed:
        for fam in retention:
            if fam not in families:
                ctx.warning(("policy", "retention", fam), f"no declared image has family '{fam}'",
                            "check the spelling of the family", key=True)
    if isinstance(policy, dict):
        _check_lifecycle(ctx, policy)
    if isinstance(declared_families, dict):
        _check_latest(ctx, declared_families)


def _check_lifecycle(ctx: _Context, policy: Mapping[str, Any]) -> None:
    """``policy.retention`` is the old spelling of ``lifecycle.<f>.keep`` (a warning that says so);
    durations must parse; deprecation needs a provider with exclude-from-latest flags."""
    retention = policy.get("retention")
    lifecycle = policy.get("lifecycle")
    lifecycle = lifecycle if isinstance(lifecycle, dict) else {}
    if isinstance(retention, dict):
        for fam, n in retention.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                continue  # the schema's error says what is wrong with it
            if fam in lifecycle:
                ctx.warning(("policy", "retention", fam),
                            f"policy.retention.{fam} is ignored: policy.lifecycle.{fam} is declared too",
                            f"remove policy.retention.{fam}; set keep: {n} under policy.lifecycle.{fam}", key=True)
            else:
                ctx.warning(("policy", "retention", fam),
                            f"policy.retention.{fam}: {n} works as policy.lifecycle.{fam}.keep: {n}",
                            f"write it as policy: {{lifecycle: {{{fam}: {{keep: {n}}}}}}} (retention is the old "
                            "spelling; docs/lifecycle.md)", key=True)
    for fam, entry in lifecycle.items():
        if not isinstance(entry, dict):
            continue
        for key in ("deprecate_after", "delete_after"):
            if key in entry:
                _check_duration(ctx, ("policy", "lifecycle", fam, key), entry[key])
        ages = "deprecate_after" in entry or "delete_after" in entry
        if ages and ctx.caps is not None and "exclude_from_latest" not in ctx.caps.image_fields:
            key = "deprecate_after" if "deprecate_after" in entry else "delete_after"
            ctx.error(("policy", "lifecycle", fam, key),
                      f"lifecycle deprecation is not supported by {ctx.provider}: its images have no "
                      "exclude-from-latest flag or end-of-life date",
                      "keep only keep: N (a retention), or use the local provider or an Azure Compute Gallery",
                      key=True)


def _check_duration(ctx: _Context, path: DataPath, value: Any) -> None:
    from ..lifecycle import DURATION_HINT, duration_problem

    problem = duration_problem(value)
    if problem is not None:
        ctx.error(path, f"{field_name(path)}: {problem}", DURATION_HINT)


def _check_latest(ctx: _Context, declared: Mapping[str, Any]) -> None:
    """``latest_rollout`` needs ``latest`` and a provider with regions; each ring's ``after`` is a duration."""
    for fam, entry in declared.items():
        if not isinstance(entry, dict):
            continue
        rollout = entry.get("latest_rollout")
        if not isinstance(rollout, list):
            continue
        if "latest" not in entry:
            ctx.error(("families", fam, "latest_rollout"),
                      f"family '{fam}' declares latest_rollout but no latest",
                      "declare the version latest rolls out to (latest: 1.4.0), or remove latest_rollout", key=True)
        if ctx.caps is not None and "latest_rollout" in ctx.caps.family_fields \
                and "target_regions" not in ctx.caps.image_fields:
            ctx.error(("families", fam, "latest_rollout"),
                      f"latest_rollout is not supported by {ctx.provider}: its images have no regions",
                      "remove latest_rollout: latest moves everywhere at once here", key=True)
        seen: set[str] = set()
        for i, ring in enumerate(rollout):
            if not isinstance(ring, dict):
                continue
            if i == 0 and "after" in ring:
                ctx.error(("families", fam, "latest_rollout", i, "after"),
                          "the first ring of latest_rollout moves at once: it takes no after",
                          "remove after from the first ring", key=True)
            elif "after" in ring:
                _check_duration(ctx, ("families", fam, "latest_rollout", i, "after"), ring["after"])
            for r in ring.get("regions") or []:
                name = str(r).replace(" ", "").lower()
                if name in seen:
                    ctx.error(("families", fam, "latest_rollout", i, "regions"),
                              f"region '{r}' is in more than one ring of latest_rollout",
                              "list each region in one ring", key=True)
                seen.add(name)


def _promotes(source: Mapping[str, Any]) -> bool:
    """``source.image`` names another catalog's image (``model.Source.promotion``)."""
    ref = source.get("image")
    return isinstance(ref, str) and (":" in ref or "/versions/" in ref.casefold())


def _check_sources(ctx: _Context, sources: Mapping[str, Any], catalog: Mapping[str, Any]) -> None:
    """A ``sources:`` entry is a catalog of the catalog's own provider (a promotion copies within
    one provider), with settings that provider knows (issue 11 §1)."""
    if ctx.caps is None:
        return
    for alias, entry in sources.items():
        if not isinstance(entry, dict):
            continue
        provider = entry.get("provider", ctx.provider)
        if provider != ctx.provider:
            ctx.error(("sources", alias, "provider") if "provider" in entry else ("sources", alias),
                      f"source '{alias}' is a {provider} catalog, but this catalog's provider is {ctx.provider}",
                      f"a promotion copies an image within one provider: use a {ctx.provider} catalog as the source",
                      key="provider" not in entry)
            continue
        known = ctx.caps.settings
        for key in entry:
            if key != "provider" and key not in known and key in validators().catalog_props:
                ctx.error(("sources", alias, key), f"setting '{key}' is not known to provider '{ctx.provider}'",
                          f"remove it; provider '{ctx.provider}' knows: {', '.join(sorted(known)) or 'nothing'}",
                          key=True)


def _check_promotion(ctx: _Context, i: int, img: Mapping[str, Any], sources: Mapping[str, Any]) -> None:
    """``source.image: ALIAS:NAME`` names a declared source; ``promote_when`` goes with a promotion;
    the provider must copy images between catalogs (``Capabilities.promotion``)."""
    p: DataPath = ("images", i)
    src = img.get("source")
    source: Mapping[str, Any] = src if isinstance(src, dict) else {}
    if not _promotes(source):
        if "promote_when" in img:
            ctx.error(p + ("promote_when",), "promote_when goes with a promotion",
                      "name another catalog's image in source.image (ALIAS:NAME, ALIAS a sources: entry), "
                      "or remove promote_when", key=True)
        return
    if ctx.caps is not None and not ctx.caps.promotion:
        ctx.error(p + ("source", "image"), f"promotion (an image copied from another catalog) is not supported by "
                  f"{ctx.provider}",
                  "capture the image from a VM instead, or use a catalog that copies images between catalogs "
                  "(docs/lifecycle.md, \"Promotion\")", key=True)
        return
    ref = str(source["image"])
    if ref.startswith("/"):
        return  # a resource id: read with the catalog's own credential
    alias, _, name = ref.partition(":")
    if alias not in sources:
        declared = ", ".join(sorted(sources)) or "none"
        ctx.error(p + ("source", "image"), f"source.image '{ref}' names source '{alias}', which sources: does "
                  "not declare", f"declare it under sources: (declared: {declared}), or fix the alias")
    elif not name:
        ctx.error(p + ("source", "image"), f"source.image '{ref}' names no image",
                  f"write {alias}:NAME, NAME the image's name in source '{alias}'")


#: Image fields of old files that are family fields now (issue 10 §2): validate says where they went.
MOVED_TO_FAMILIES = frozenset({"publisher", "offer", "sku", "hyper_v_generation"})


def _check_families(ctx: _Context, declared: Mapping[str, Any], used: set[str] | None) -> None:
    """Each family field must be one the provider takes (``Capabilities.family_fields``: every
    provider takes ``description``, the rest are gallery capabilities); a declared family no image
    uses is a warning (``used`` None: the images could not be read)."""
    for fam, entry in declared.items():
        # A family that declares latest is about its live versions, declared here or not.
        if used is not None and fam not in used and not (isinstance(entry, dict) and "latest" in entry):
            ctx.warning(("families", fam), f"no declared image has family '{fam}'",
                        "check the spelling of the family, or remove the entry", key=True)
        caps = ctx.caps
        if caps is None or not isinstance(entry, dict):
            continue
        for key in entry:
            if key in caps.family_fields or key not in validators().family_props:
                continue
            known = ", ".join(sorted(caps.family_fields)) or "none"
            if key in ("latest", "latest_rollout"):
                ctx.error(("families", fam, key), f"family field '{key}' is not supported by {ctx.provider}",
                          f"remove it (provider '{ctx.provider}' family fields: {known}); a declared latest needs "
                          "versions with an exclude-from-latest flag (provider local, or azure with catalog.gallery "
                          "set)", key=True)
                continue
            ctx.error(("families", fam, key),
                      f"family field '{key}' is a gallery capability: provider '{ctx.provider}' does not support it",
                      f"remove it (provider '{ctx.provider}' family fields: {known}); it describes an Azure "
                      "Compute Gallery image definition (provider azure with catalog.gallery set)", key=True)


def check_semantics(where: Locator, data: Mapping[str, Any], diags: list[Diagnostic], provider: str,
                    caps: Capabilities | None, *, printable: bool = False,
                    pieces: Iterable[tuple[int, Sequence[Any]]] | None = None) -> None:
    """Append every semantic problem of the document ``data`` to ``diags``. ``printable``: the reader
    saw only printable keys and strings (``reader.Document.printable``): the character walk is skipped.
    ``pieces``: its ``images:`` list a piece at a time, (index of the first entry, the entries),
    each checked as it comes; None: the list in ``data``."""
    _check_semantics(_Context(where, diags, provider, caps, printable), data, pieces)


__all__ = ["MOVED_TO_FAMILIES", "check_semantics"]
