"""Benchmark: the model codec on its hot paths, against hand-written code and an older codec.

Run on demand (not part of the test suite):  python benchmarks/codec_speed.py [--n 10000] [--repeat 5]

Measures, in process, best of ``--repeat`` (GC paused, as ``check_spec`` does):

- ``build_state`` of an N-image desired-state file (the file ``plan_scale.py`` generates), against
  the hand-written builder the codec replaced (``_handwritten_build_state`` below);
- ``plan_document`` (``PLAN_FORMAT.to_dict``) and ``plan_from_document`` of an N-change plan;
- the local catalog's rows: ``Image`` -> row dict and row tuple -> ``Image`` for N images, against
  hand-written equivalents;
- ``dump_spec``'s ``SPEC_FILE.to_dict`` of N specs and the planner's ``_VIEW.to_dict``.

``--before REV`` also runs each codec row with ``reconciler/codec.py`` as it was at git revision
REV (the same shapes, re-made with that module's ``Codec`` and ``Shape``), for a before/after:
``--before d5da72b`` is the last codec that interpreted fields and hints on every call.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from plan_scale import make_inputs  # noqa: E402

from reconciler import codec as codec_module  # noqa: E402
from reconciler import plan as plan_module  # noqa: E402
from reconciler import plandoc  # noqa: E402
from reconciler.model import (  # noqa: E402
    CatalogConfig,
    DesiredState,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    Source,
)
from reconciler.providers import local  # noqa: E402

try:  # the local provider as a package (rows in ``store``) or as one module
    from reconciler.providers.local import store as rows_module  # noqa: E402
except ImportError:
    rows_module = local  # type: ignore[assignment]
from reconciler.seed import parse_seed  # noqa: E402
from reconciler.spec import build  # noqa: E402
from reconciler.spec.reader import read_document  # noqa: E402

# --------------------------------------------------------------------------------------------------
# Hand-written equivalents (the code the codec replaced)


def _handwritten_build_state(doc: Any, data: Mapping[str, Any], provider: str, settings: Mapping[str, Any],
                             image_fields: Iterable[str], digest: str) -> DesiredState:
    """``spec.py``'s ``_build`` before the codec (git show HEAD~3:reconciler/spec.py)."""
    cat = data["catalog"]
    pol = data.get("policy") or {}
    provider_fields = frozenset(image_fields)
    images = []
    for i, img in enumerate(data["images"]):
        src = img["source"]
        itype = ImageType(img["type"])
        images.append(
            ImageSpec(
                name=img["name"],
                type=itype,
                os=img["os"],
                os_state=OSState(img.get("os_state", "generalized")),
                source=Source(
                    vm=src.get("vm"),
                    vhd=src.get("vhd"),
                    generalize=bool(src.get("generalize", False)),
                    storage_account=src.get("storage_account"),
                ),
                family=img.get("family"),
                label=img.get("label"),
                description=img.get("description"),
                recommended_vm_size=img.get("recommended_vm_size"),
                tags=dict(img.get("tags") or {}),
                protect=bool(img.get("protect", False)),
                extra={k: v for k, v in img.items() if k in provider_fields},
                line=doc.line(("images", i)),
            )
        )
    return DesiredState(
        catalog=CatalogConfig(name=cat["name"], provider=provider, settings=dict(settings)),
        policy=Policy(
            prune=bool(pol.get("prune", False)),
            retention={k: int(v) for k, v in (pol.get("retention") or {}).items()},
        ),
        images=tuple(images),
        digest=digest,
        path=doc.filename,
    )


def _handwritten_row(i: Image) -> dict[str, Any]:
    src = i.source
    return {
        "name": i.name, "type": i.type.value, "os": i.os, "os_state": i.os_state.value,
        "category": i.category.value, "family": i.family, "label": i.label, "description": i.description,
        "recommended_vm_size": i.recommended_vm_size, "tags": rows_module._tags_json(i.tags), "owner": i.owner,
        "protected": int(i.protected),
        "source_vm": src.vm if src else None, "source_vhd": src.vhd if src else None,
        "source_storage": src.storage_account if src else None,
        "data_disks": i.data_disks, "etag": i.fingerprint, "created": i.created,
    }


def _handwritten_image_from_row(r: tuple[Any, ...]) -> Image:
    from reconciler.model import Category

    (name, type_, os_, os_state, category, family, label, description, size, tags, owner, protected,
     vm, vhd, storage, data_disks, etag, created) = r
    source = None if vm is None and vhd is None and storage is None else Source(
        vm=vm, vhd=vhd, storage_account=storage)
    return Image(
        name=name, type=ImageType(type_), os=os_, os_state=OSState(os_state), category=Category(category),
        family=family, label=label, description=description, recommended_vm_size=size, tags=json.loads(tags),
        owner=owner, protected=bool(protected), source=source, data_disks=data_disks, id=f"images/{name}",
        fingerprint=etag, created=created,
    )


# --------------------------------------------------------------------------------------------------
# An older codec, for before/after in one run


def _codec_at(rev: str) -> types.ModuleType | None:
    try:
        text = subprocess.run(["git", "show", f"{rev}:reconciler/codec.py"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"--before {rev}: {e}", file=sys.stderr)
        return None
    spec = importlib.util.spec_from_loader(f"_codec_{rev}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(text, f"{rev}:reconciler/codec.py", "exec"), module.__dict__)  # noqa: S102
    return module


def _remake(codec: Any, old: types.ModuleType) -> Any:
    """``codec`` (a current ``Codec``) re-made with the old module's ``Codec`` and ``Shape``."""
    shapes = {
        cls: old.Shape(**{f.name: getattr(shape, f.name) for f in dataclasses.fields(shape)})
        for cls, shape in codec.shapes.items()
    }
    return old.Codec(shapes, dict(codec.enums))


# --------------------------------------------------------------------------------------------------
# Timing


def best(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm up (a compiling codec compiles here)
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", metavar="REV", help="also time reconciler/codec.py as of this git revision")
    args = ap.parse_args()
    n, repeat = args.n, args.repeat

    with tempfile.TemporaryDirectory(prefix="reconciler-codec-bench-") as tmp:
        seed_path, spec_path = make_inputs(n, Path(tmp))
        raw = spec_path.read_bytes()
        seed_raw = seed_path.read_bytes()
    doc, diags = read_document(raw, str(spec_path))
    assert doc is not None and not diags, diags
    caps = local.capabilities({})
    digest = hashlib.sha256(raw).hexdigest()
    settings = {"path": "catalog.db"}

    def codec_build() -> DesiredState:
        return build.build_state(doc, doc.data, "local", settings, caps.image_fields, digest)

    def hand_build() -> DesiredState:
        return _handwritten_build_state(doc, doc.data, "local", settings, caps.image_fields, digest)

    desired = codec_build()
    assert desired == hand_build(), "the codec's build_state differs from the hand-written one"
    assert [s.line for s in desired.images] == [s.line for s in hand_build().images]
    snapshot = parse_seed(seed_raw, str(seed_path))
    plan = plan_module.make_plan(desired, snapshot, caps)
    document = json.loads(json.dumps(plandoc.plan_document(plan)))
    images = snapshot.images
    rows = [tuple(rows_module._ROWS.to_dict(i).values()) for i in images]
    assert [rows_module._image_from_row(r) for r in rows[:50]] == [_handwritten_image_from_row(r) for r in rows[:50]]
    assert [rows_module._ROWS.to_dict(i) for i in images[:50]] == [_handwritten_row(i) for i in images[:50]]
    specs = desired.images

    # (label, function of the codecs in use, hand-written function or None)
    Codecs = dict[str, Any]
    cases: list[tuple[str, Callable[[Codecs], Callable[[], Any]], Callable[[], Any] | None]] = [
        (f"build_state, {n} images",
         lambda c: lambda: _build_with(c["SPEC_FILE"], doc, caps.image_fields, digest, settings), hand_build),
        (f"plan_document, {len(plan.changes)} changes", lambda c: lambda: c["PLAN_FORMAT"].to_dict(plan), None),
        (f"plan_from_document, {len(plan.changes)} changes",
         lambda c: lambda: _plan_from_document(c["PLAN_FORMAT"], document), None),
        (f"local rows: Image -> row, {len(images)}", lambda c: lambda: [c["_ROWS"].to_dict(i) for i in images],
         lambda: [_handwritten_row(i) for i in images]),
        (f"local rows: row -> Image, {len(rows)}", lambda c: lambda: [_from_row(c["_ROWS"], r) for r in rows],
         lambda: [_handwritten_image_from_row(r) for r in rows]),
        (f"dump_spec to_dict, {len(specs)} specs", lambda c: lambda: [c["SPEC_FILE"].to_dict(s) for s in specs],
         None),
        (f"planner views, {len(specs)} specs", lambda c: lambda: [c["_VIEW"].to_dict(s) for s in specs], None),
    ]
    now: Codecs = {"SPEC_FILE": build.SPEC_FILE, "PLAN_FORMAT": plandoc.PLAN_FORMAT, "_ROWS": rows_module._ROWS,
                   "_VIEW": plan_module._VIEW}
    old_codecs: Codecs | None = None
    if args.before:
        old = _codec_at(args.before)
        if old is not None:
            old_codecs = {k: _remake(v, old) for k, v in now.items()}
            # the old codec has its own OMIT/NO_DEFAULT sentinels: map the current ones onto them
            _patch_sentinels(old_codecs, old)

    header = f"{'':44} {'codec ms':>9} {'hand ms':>8} {'ratio':>6}"
    if old_codecs is not None:
        header += f" {'before ms':>10} {'speed-up':>8}"
    print(f"codec_speed: n={n}, best of {repeat}, GC paused, python {sys.version.split()[0]}")
    print(header)
    for label, make, hand in cases:
        t = best(make(now), repeat)
        line = f"{label:44} {t * 1000:9.1f}"
        if hand is not None:
            h = best(hand, repeat)
            line += f" {h * 1000:8.1f} {t / h:5.2f}x"
        else:
            line += f" {'':8} {'':6}"
        if old_codecs is not None:
            b = best(make(old_codecs), repeat)
            line += f" {b * 1000:10.1f} {b / t:7.1f}x"
        print(line, flush=True)
    return 0


def _build_with(spec_file: Any, doc: Any, fields: Iterable[str], digest: str,
                settings: Mapping[str, Any]) -> DesiredState:
    """``build_state`` with a given ``SPEC_FILE`` codec (the module's own, or an older codec's)."""
    saved = build.SPEC_FILE
    build.SPEC_FILE = spec_file
    try:
        return build.build_state(doc, doc.data, "local", settings, fields, digest)
    finally:
        build.SPEC_FILE = saved


def _plan_from_document(plan_format: Any, doc: Mapping[str, Any]) -> Any:
    saved = plandoc.PLAN_FORMAT
    plandoc.PLAN_FORMAT = plan_format
    try:
        return plandoc.plan_from_document(doc)
    finally:
        plandoc.PLAN_FORMAT = saved


def _from_row(rows: Any, r: tuple[Any, ...]) -> Image:
    return rows.from_dict(Image, dict(zip(rows.keys(Image), r, strict=True)), id=f"images/{r[0]}")


def _patch_sentinels(codecs: dict[str, Any], old: types.ModuleType) -> None:
    """Shape functions answer the current module's ``OMIT``/``NO_DEFAULT``; the old codec compares
    with its own, so wrap each function to translate."""

    def tr(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any) -> Any:
            v = fn(*a)
            if v is codec_module.OMIT:
                return old.OMIT
            if v is codec_module.NO_DEFAULT:
                return old.NO_DEFAULT
            return v

        return wrapped

    for c in codecs.values():
        for shape in c.shapes.values():
            object.__setattr__(shape, "computed", {k: tr(f) for k, f in shape.computed.items()})
            object.__setattr__(shape, "defaults",
                               {k: tr(f) if callable(f) else f for k, f in shape.defaults.items()})


if __name__ == "__main__":
    sys.exit(main())
