"""Swagger definitions of the ARM operations the emulator serves, turned into JSON Schema validators.

Layer: emulator support (no I/O beyond reading the packaged spec files once). The spec files in
``spec/`` are exact copies of Azure/azure-rest-api-specs (MIT; see ``spec/README.md``):
ComputeRP 2025-11-01 (images and VM actions, an extract), GalleryRP 2025-03-03 (full) and Compute's
``common-types/v1/common.json``. Request and response bodies are checked against these, not against
hand-written shapes, so that the emulator and its tests stay honest to the published contract.

The swagger ``$ref`` graph points at files that were not copied (the ARM ``v3/types.json``) and, in the
ComputeRP extract, at definitions that were left out (``VirtualMachine`` ...). Those few are supplied
here as small stand-in schemas (``_STUBS``), each written from the spec's own descriptions; every stand-in
is listed in docs/arm-emulator.md.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

SPEC_DIR = Path(__file__).with_name("spec")

#: short prefix -> packaged spec file. Definitions are renamed ``<prefix>.<Name>`` in one registry.
SPEC_FILES = {
    "compute": "compute-2025-11-01.extract.json",
    "gallery": "gallery-2025-03-03.json",
    "common": "compute-common-v1.json",
    # Marketplace browsing, Run Command and scale-set lists (issue 14; Run Command is issue 10's).
    "marketplace": "compute-2025-11-01.marketplace.extract.json",
    # Consumers of an image (issue 11 §4): VirtualMachines_ListAll (reconstructed: see the file's
    # x-extract-note) and Azure Resource Graph's query (shared/azure-rest/2022-10-01, full copy).
    "vmlistall": "compute-2025-11-01.vm-listall.json",
    "resourcegraph": "resourcegraph-2022-10-01.json",
}

_STRING_ENUM = "string"


def _strings(*names: str) -> dict[str, Any]:
    """Properties that are plain strings, for the stand-ins below."""
    return {name: {"type": "string"} for name in names}


# Stand-ins for definitions whose source file was not copied (ARM v3 types) or that the ComputeRP
# extract leaves out. Kept deliberately loose where the spec is unknown (extra properties allowed, as
# swagger does by default) and exact where the spec text states a shape.
_STUBS: dict[str, dict[str, Any]] = {
    "arm.Resource": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "readOnly": True},
            "name": {"type": "string", "readOnly": True},
            "type": {"type": "string", "readOnly": True},
            "systemData": {"type": "object", "readOnly": True},
        },
    },
    "arm.TrackedResource": {
        "type": "object",
        "allOf": [{"$ref": "#/definitions/arm.Resource"}],
        "properties": {
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "location": {"type": "string"},
        },
        "required": ["location"],
    },
    # ARM's generic Azure-AsyncOperation status resource (async-operations.md), not in either swagger.
    "arm.OperationStatus": {
        "type": "object",
        "properties": {
            **_strings("id", "name", "status", "startTime", "endTime"),
            "percentComplete": {"type": "number"},
            "properties": {"type": "object"},
            "error": {"$ref": "#/definitions/common.ApiError"},
        },
        "required": ["name", "status"],
    },
    "compute.CachingTypes": {"type": _STRING_ENUM, "enum": ["None", "ReadOnly", "ReadWrite"]},
    "compute.StorageAccountTypes": {
        "type": _STRING_ENUM,
        "enum": [
            "Standard_LRS",
            "Premium_LRS",
            "StandardSSD_LRS",
            "UltraSSD_LRS",
            "Premium_ZRS",
            "StandardSSD_ZRS",
            "PremiumV2_LRS",
        ],
    },
    "compute.DiskEncryptionSetParameters": {"type": "object", "properties": {"id": {"type": "string"}}},
    "compute.Common.OperatingSystemTypes": {"type": _STRING_ENUM, "enum": ["Windows", "Linux"]},
    "compute.Common.OperatingSystemStateTypes": {
        "type": _STRING_ENUM,
        "enum": ["Generalized", "Specialized"],
    },
    "compute.StatusLevelTypes": {"type": _STRING_ENUM, "enum": ["Info", "Warning", "Error"]},
    "compute.UpdateResource": {
        "type": "object",
        "properties": {"tags": {"type": "object", "additionalProperties": {"type": "string"}}},
    },
    "compute.VirtualMachineInstanceView": {
        "type": "object",
        "properties": {
            **_strings("computerName", "osName", "osVersion"),
            "hyperVGeneration": {"type": "string", "enum": ["V1", "V2"]},
            "statuses": {"type": "array", "items": {"$ref": "#/definitions/compute.InstanceViewStatus"}},
            "disks": {"type": "array", "items": {"type": "object"}},
        },
    },
    "compute.VirtualMachine": {
        "type": "object",
        "allOf": [{"$ref": "#/definitions/arm.TrackedResource"}],
        "properties": {
            "properties": {
                "type": "object",
                "properties": {
                    "hardwareProfile": {"type": "object", "properties": {"vmSize": {"type": "string"}}},
                    "storageProfile": {
                        "type": "object",
                        "properties": {
                            "osDisk": {
                                "type": "object",
                                "properties": {
                                    "osType": {"$ref": "#/definitions/compute.Common.OperatingSystemTypes"},
                                    "managedDisk": {
                                        "type": "object",
                                        "properties": {"id": {"type": "string"}},
                                    },
                                },
                            },
                            "dataDisks": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"lun": {"type": "integer"}},
                                    "required": ["lun"],
                                },
                            },
                        },
                    },
                    "instanceView": {"$ref": "#/definitions/compute.VirtualMachineInstanceView"},
                    "provisioningState": {"type": "string", "readOnly": True},
                },
            },
        },
    },
    "compute.VirtualMachineListResult": {
        "type": "object",
        "properties": {
            "value": {"type": "array", "items": {"$ref": "#/definitions/compute.VirtualMachine"}},
            "nextLink": {"type": "string", "format": "uri"},
        },
        "required": ["value"],
    },
}

_EXTERNAL_REFS = (
    ("common-types/v1/common.json#/definitions/", "common."),
    ("compute-2025-11-01.extract.json#/definitions/", "compute."),
    ("resource-management/v3/types.json#/definitions/", "arm."),
)


def _rewrite_refs(node: Any, prefix: str) -> Any:
    """Rename every ``$ref`` so that all three files live in one ``#/definitions`` namespace."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = _rename_ref(value, prefix)
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def _rename_ref(ref: str, prefix: str) -> str:
    if ref.startswith("#/definitions/"):
        return f"#/definitions/{prefix}.{ref[len('#/definitions/') :]}"
    for marker, new_prefix in _EXTERNAL_REFS:
        if marker in ref:
            return f"#/definitions/{new_prefix}{ref.split(marker, 1)[1]}"
    return ref


def _request_view(node: Any) -> Any:
    """ARM ignores read-only properties sent in a request body: make them accept anything."""
    if isinstance(node, dict):
        if node.get("readOnly") is True:
            return {}
        out = {k: _request_view(v) for k, v in node.items()}
        props = node.get("properties")
        if isinstance(props, dict) and isinstance(node.get("required"), list):
            out["required"] = [
                r for r in node["required"] if not (isinstance(props.get(r), dict) and props[r].get("readOnly"))
            ]
        return out
    if isinstance(node, list):
        return [_request_view(v) for v in node]
    return node


@dataclass(frozen=True)
class SpecOperation:
    """One swagger operation: where it lives, what body it takes, what it may answer."""

    spec: str  # "compute" or "gallery"
    method: str
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    body_definition: str | None
    responses: dict[str, str | None] = field(default_factory=dict)  # status -> definition or None
    lro: bool = False
    pageable: bool = False
    #: Query parameters the operation is declared with in its ``x-ms-paths`` key (``?$expand=Properties``):
    #: it serves the path only when the request carries them (lower-cased names and values).
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BodyProblem:
    """Why a request body does not validate: ``target`` is the dotted field path ARM reports."""

    target: str
    message: str
    required: bool


class SpecSchemas:
    """All definitions of the packaged specs in one registry, with request and response validators."""

    def __init__(self, spec_dir: Path = SPEC_DIR) -> None:
        definitions: dict[str, Any] = {}
        self.operations: list[SpecOperation] = []
        self.documents: dict[str, dict[str, Any]] = {}
        for prefix, filename in SPEC_FILES.items():
            doc = json.loads((spec_dir / filename).read_text(encoding="utf-8"))
            self.documents[prefix] = doc
            for name, schema in doc.get("definitions", {}).items():
                definitions[f"{prefix}.{name}"] = _rewrite_refs(schema, prefix)
            if prefix != "common":
                for op, inline in _operations(prefix, doc):
                    self.operations.append(op)
                    # A response declared inline (Marketplace lists are bare arrays) gets a name of its own.
                    definitions.update(inline)
        for name, schema in _STUBS.items():
            definitions.setdefault(name, schema)
        # Resource Graph's swagger types ``QueryResponse.data`` "object" (AutoRest's "any"), but
        # every example answer holds an array there (``objectArray``, e.g. ResourcesBasicQuery.json)
        # or a Table object: accept either, as the service sends both.
        graph = definitions.get("resourcegraph.QueryResponse")
        if graph is not None:
            graph["properties"]["data"] = {"type": ["array", "object"],
                                           "description": graph["properties"]["data"].get("description", "")}
        self._response_defs = definitions
        self._request_defs = _request_view(definitions)
        self._validators: dict[tuple[str, bool], jsonschema.protocols.Validator] = {}

    def validator(self, definition: str, *, request: bool = False) -> jsonschema.protocols.Validator:
        """A Draft 4 validator (swagger 2.0 schemas are a Draft 4 subset) for ``prefix.Name``."""
        key = (definition, request)
        if key not in self._validators:
            defs = self._request_defs if request else self._response_defs
            if definition not in defs:
                raise KeyError(f"no definition {definition!r} in the packaged specs")
            root = {"allOf": [{"$ref": f"#/definitions/{definition}"}], "definitions": defs}
            self._validators[key] = jsonschema.Draft4Validator(root)
        return self._validators[key]

    def response_errors(self, definition: str, instance: Any) -> list[str]:
        """Every way ``instance`` breaks the response schema, as ``path: message`` lines (empty if valid)."""
        errors = sorted(self.validator(definition).iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{_dotted(e.absolute_path) or '$'}: {e.message}" for e in _leaves(errors)]

    def request_problem(self, definition: str, instance: Any) -> BodyProblem | None:
        """The one problem ARM would report for a request body (best match first), or None if valid."""
        error = best_match(self.validator(definition, request=True).iter_errors(instance))
        if error is None:
            return None
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [r for r in error.validator_value if r not in error.instance]
            if missing:
                target = _dotted([*path, missing[0]])
                return BodyProblem(target, f"Required parameter '{target}' is missing (null).", True)
        target = _dotted(path) or "parameters"
        return BodyProblem(target, f"The value of parameter '{target}' is invalid: {error.message}", False)

    def match(self, method: str, path: str,
              query: Mapping[str, str] | None = None) -> tuple[SpecOperation, dict[str, str]] | None:
        """The operation serving ``method path`` (ARM matches paths case-insensitively) and its params.

        An ``x-ms-paths`` operation (same path, told apart by a query parameter such as
        ``$expand=Properties``) wins when ``query`` carries its parameters."""
        method = method.lower()
        given = {k.lower(): str(v).lower() for k, v in (query or {}).items()}
        found: tuple[SpecOperation, dict[str, str]] | None = None
        for op in self.operations:
            if op.method != method:
                continue
            m = op.pattern.fullmatch(path)
            if not m:
                continue
            if op.query:
                if all(given.get(k) == v for k, v in op.query):
                    return op, m.groupdict()
                continue
            if found is None:
                found = op, m.groupdict()
        return found

    def path_exists(self, path: str) -> bool:
        """True when some operation serves this path with another method (ARM then says 405)."""
        return any(op.pattern.fullmatch(path) for op in self.operations)


def _leaves(errors: list[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        if error.context:
            yield from _leaves(list(error.context))
        else:
            yield error


def _dotted(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _response_definition(prefix: str, operation_id: str, status: str, response: dict[str, Any],
                         inline: dict[str, Any]) -> str | None:
    """The definition a response declares; an inline schema is added to ``inline`` under a new name."""
    schema = response.get("schema")
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return _rename_ref(schema["$ref"], prefix).removeprefix("#/definitions/")
    name = f"{prefix}.{operation_id}.{status}"
    inline[name] = _rewrite_refs(schema, prefix)
    return name


def _operations(prefix: str, doc: dict[str, Any]) -> Iterator[tuple[SpecOperation, dict[str, Any]]]:
    paths = [*doc.get("paths", {}).items(), *doc.get("x-ms-paths", {}).items()]
    for key, item in paths:
        if "Microsoft.Compute" not in key and key != "/providers/Microsoft.ResourceGraph/resources":
            continue
        template, _, declared = key.partition("?")
        query = tuple((k.lower(), v.lower()) for k, v in parse_qsl(declared))
        regex = "".join(
            f"(?P<{_group(part[1:-1])}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        pattern = re.compile(regex, re.IGNORECASE)
        for method, op in item.items():
            if method == "parameters" or not isinstance(op, dict):
                continue
            body = next((p for p in op.get("parameters", []) if p.get("in") == "body"), None)
            body_def = None
            if body and "$ref" in body.get("schema", {}):
                body_def = _rename_ref(body["schema"]["$ref"], prefix).removeprefix("#/definitions/")
            inline: dict[str, Any] = {}
            responses = {
                status: _response_definition(prefix, op["operationId"], status, r, inline)
                for status, r in op.get("responses", {}).items()
            }
            yield SpecOperation(
                spec=prefix,
                method=method,
                template=template,
                operation_id=op["operationId"],
                pattern=pattern,
                body_definition=body_def,
                responses=responses,
                lro=bool(op.get("x-ms-long-running-operation")),
                pageable="x-ms-pageable" in op,
                query=query,
            ), inline


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


@cache
def spec_schemas() -> SpecSchemas:
    """The process-wide registry: the spec files are read and compiled once."""
    return SpecSchemas()


def deep_copy(value: Any) -> Any:
    """Deep copy for JSON-like data (kept here so callers need not import ``copy`` for it).

    Dicts, lists and scalars are copied here, several times faster than ``copy.deepcopy`` (every
    list page renders a copy of each of its resources: issue 13); anything else goes to it."""
    kind = type(value)
    if kind is dict:
        return {k: deep_copy(v) for k, v in value.items()}
    if kind is list:
        return [deep_copy(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


_SCALARS = frozenset({str, int, float, bool, type(None)})
