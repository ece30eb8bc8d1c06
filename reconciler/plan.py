"""The planner: a pure function of (desired state, live snapshot, provider capabilities) -> Plan.

Layer: pure core. No I/O, no clock, no printing; imports only ``model``, ``errors``, ``rules``,
``promotion``, ``codec`` and deepdiff.
deepdiff is used only here and its objects never leave this module: every difference is turned
into a plain ``FieldDiff(path, before, after)``.

Safety rules (design §4) are decided in ``rules`` (shared with the write-time guard in front of
every provider) and applied here to the whole snapshot, now rather than 40 minutes into apply:
- nothing unowned or public is ever changed, replaced or removed;
- protection is a marker on the live image: a protected live image is never removed or replaced,
  whatever the file says now, until an update has taken the marker off;
- capture preconditions are checked against the live snapshot.
This module words the refusals for the file's point of view and gives them their location.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from . import rules
from .codec import Codec, Shape
from .errors import Diagnostic, Location
from .lifecycle import (
    DEPRECATED_TAG,
    LATEST_RING_TAG,
    Decision,
    Member,
    deprecation_fields,
    format_time,
    latest_flags,
    lifecycle_decisions,
    names_version,
    parse_duration,
    resolve_latest,
    ring_progress,
    version_key,
    version_of,
)
from .model import (
    ORIGIN_UNREADABLE,
    UP_TO_DATE,
    VM,
    Action,
    Capabilities,
    Category,
    Change,
    Consumer,
    DesiredState,
    FamilySpec,
    FieldDiff,
    Image,
    ImageSpec,
    LatestMove,
    Plan,
    Snapshot,
    Source,
    UnchangedTest,
    capture_source_key,
    positional,
    spec_from_image,
)
from .promotion import origin_mismatches, promotion_of, waiting_reason

#: Fields compared between a live image and its spec, in display order.
_FIELDS = (
    "type",
    "os",
    "os_state",
    "source",
    "family",
    "label",
    "description",
    "recommended_vm_size",
    "tags",
    "protect",
)


def make_plan(
    desired: DesiredState,
    snapshot: Snapshot,
    capabilities: Capabilities,
    *,
    prune: bool | None = None,
    targets: Sequence[str] = (),
    replace: Sequence[str] = (),
    now: datetime | None = None,
    fingerprints: bool = True,
) -> Plan:
    """Plan the changes that make ``snapshot`` match ``desired``.

    ``fingerprints=False``: the plan records none (``Plan.fingerprints`` is empty): a plan that is
    only shown, never saved or verified, need not index every image it read (issue 13: 0.25 s
    of a 100,000-image plan).

    ``now``: the time the plan is made at (the shell's clock, injected; None: unknown), for the
    time-based rules (a promotion's ``promote_when.min_age``, ``promotion.waiting_reason``).

    ``prune`` overrides the file's ``policy.prune`` when not None; ``False`` (``--no-prune``) turns
    off every removal, retention's too: the plan removes nothing. ``targets`` limits the plan to
    those image names (case-insensitive); a target that names nothing is an error. ``replace``
    (``--replace``, Terraform's ``-replace``) names declared, owned images to recapture even when
    nothing differs; one that is not declared is an error, one that may not be replaced (public,
    not ours, protected) an error on its change.
    """
    owner = desired.catalog.name
    prune_on = desired.policy.prune if prune is None else prune
    live = snapshot.image_index()
    vms = snapshot.vm_index()
    declared: dict[str, ImageSpec] = {}
    entries: dict[str, int] = {}  # the index of each key's entry, for ``location``: each name folded once
    for i, s in enumerate(desired.images):
        declared[key := s.key] = s
        entries[key] = i
    location = _locator(desired, entries)
    errors: list[Diagnostic] = []
    forced = _replace_requests(replace, declared, errors)

    changes: dict[str, Change] = {}
    found = snapshot.unchanged  # up to date by ``unchanged_test``: a spec each, no image, no change
    unchanged: list[ImageSpec] = []
    for key, spec in declared.items():  # the file's order; a name is declared once (validated)
        if key in found:
            unchanged.append(spec)
            continue
        changes[key] = _plan_declared(
            spec, live.get(key), vms, snapshot, capabilities, owner, location, force_replace=key in forced
        )

    _check_shared_sources(changes, location)
    _plan_promotions(snapshot, changes, location, now)
    errors.extend(_plan_families(desired, snapshot, capabilities, changes, owner))

    warnings: list[Diagnostic] = []
    captured = {k for k, c in changes.items() if c.action in (Action.CAPTURE, Action.REPLACE)}
    lifecycles = desired.policy.lifecycles()
    spared = _latest_spared(desired, snapshot, declared, live, captured)
    retention_removals = _retention(desired, snapshot, declared, owner, captured, spared)
    aged = _aged(desired, snapshot, declared, owner, spared, now, errors)
    undeclared = [] if prune is False else [i for key, i in live.items() if key not in declared]
    for image in sorted(undeclared, key=lambda i: i.key):  # --no-prune: nothing removed, not even by retention
        if not rules.owned(image, owner):
            continue
        decision = aged.get(image.key)
        if image.key in retention_removals:
            keep = retention_removals[image.key]
            reason = f"retention: keep {keep}"
        elif decision is not None and decision.action == "delete":
            reason = decision.reason
        elif prune_on and (image.family or "") not in lifecycles:
            reason = "no longer declared"
        else:
            continue
        if rules.touch_refusal(image, owner, rules.Verb.REMOVE) is not None:  # protected: kept
            warnings.append(
                Diagnostic.warning(
                    f"image '{image.name}' is no longer declared but is protected: it is kept",
                    "to remove it, declare it again with protect: false, apply, then delete the entry",
                    code="protected",
                )
            )
            continue
        changes[image.key] = Change(
            name=image.name,
            action=Action.REMOVE,
            reason=reason,
            before=image,
            fields=tuple(FieldDiff(p, b, None) for p, b in _view(image, capabilities).items() if b),
            destructive=True,
            steps=("remove image",),
            held_by=_holders(desired, snapshot, image),
        )

    _deprecate(changes, aged, live, vms, snapshot, capabilities, owner, location, now)
    moves = _plan_latest(desired, snapshot, capabilities, changes, declared, live, vms, owner, location, errors,
                         now)

    _add_footprints(changes, vms, snapshot.origins, capabilities)
    selected = _select_targets(changes, targets, errors, snapshot, owner)
    if targets:
        wanted = {t.casefold() for t in targets}
        unchanged = [s for s in unchanged if s.key in wanted]

    ordered = tuple(selected[k] for k in sorted(selected))
    return Plan(
        catalog=owner,
        provider=capabilities.provider,
        changes=ordered,
        fingerprints=_relevant_fingerprints(desired, snapshot, owner, declared, live, vms, changes)
        if fingerprints else {},
        desired_digest=desired.digest,
        prune=prune_on,
        targets=tuple(sorted({t.casefold() for t in targets})),
        errors=tuple(errors),
        warnings=tuple(warnings),
        replace=tuple(sorted(forced)),
        now=format_time(now) if now is not None and _uses_time(desired) else "",
        latest=moves,
        unchanged=tuple(unchanged),
    )


def unchanged_test(desired: DesiredState, caps: Capabilities, *, replace: Sequence[str] = (),
                   fingerprints: bool = True) -> UnchangedTest:
    """The test a provider may run on each live image of a declared name as it reads it
    (``Provider.snapshot(unchanged=...)``; issue 13): the image's fingerprint ("" with
    ``fingerprints=False``, for a plan that records none) when ``make_plan`` would plan it as an
    up-to-date no-op (ours, not failed, not ``--replace``d, nothing compared differs: the no-op
    fast path, ``_same``) and no other part of the plan reads it: its family has no lifecycle,
    retention or declared family entry (those scan their members: ``_retention``, ``_aged``,
    ``_latest_spared``, ``_plan_latest``, ``_plan_families``). Such an image is then kept as its
    fingerprint alone (``Snapshot.unchanged``) and listed in ``Plan.unchanged``. None: keep it.

    A snapshot read with this test is planned with the same ``replace``; the plan is the one the
    full snapshot gives, its unchanged no-ops listed by spec
    (``tests/unit/test_plan_unchanged.py``)."""
    owner = desired.catalog.name
    scanned = {f.casefold() for f in desired.policy.lifecycles()} | {f.key for f in desired.families.values()}
    forced = {r.casefold() for r in replace}
    owned = rules.owned  # touch_refusal(image, owner, UPDATE) is None, without building a refusal

    def test(spec: ImageSpec, image: Image) -> str | None:
        if image.failed is not None or (forced and spec.key in forced):
            return None
        if scanned and spec.family is not None and spec.family.casefold() in scanned:
            return None
        if not owned(image, owner) or not _same(spec, image, caps):
            return None
        return image.fingerprint if fingerprints else ""

    return test


# --------------------------------------------------------------------------------------------------
# Promotions (issue 11 §1)


def _plan_promotions(snapshot: Snapshot, changes: dict[str, Change], location: Any, now: datetime | None) -> None:
    """Check each capture (or replace) whose source is another catalog's image against that image
    (``Snapshot.origins``): it must exist, not have failed, and hold the entry's type, OS and OS
    state (errors). A capture whose ``promote_when`` gate is not met at ``now`` is *waiting*: kept
    with its reason, not a change. A promotion is never destructive: it consumes nothing."""
    for key, change in changes.items():
        spec = change.after
        if spec is None or change.action not in (Action.CAPTURE, Action.REPLACE):
            continue
        promo = promotion_of(spec)
        if promo is None:
            continue
        loc = location(spec, "source.image")
        origin = snapshot.origins.get(promo.key)
        errors: list[Diagnostic] = []
        waiting = None
        if origin is None:
            where = f"catalog '{promo.alias}' (sources.{promo.alias})" if promo.alias else "Azure"
            errors.append(Diagnostic.error(
                f"source image {promo.ref} of '{spec.name}' does not exist in {where}",
                "fix source.image (ALIAS:NAME, names compare case-insensitively), or create it there first",
                loc, code="promotion-source-missing"))
        elif origin.extra.get(ORIGIN_UNREADABLE):
            # Not read for want of a credential (a source in another tenant): say what to set, here.
            errors.append(Diagnostic.error(
                f"source image {promo.ref} of '{spec.name}' cannot be read: {origin.failed}",
                str(origin.extra[ORIGIN_UNREADABLE]), loc, code="promotion-source-credential"))
        elif origin.failed is not None:
            errors.append(Diagnostic.error(
                f"source image {promo.ref} of '{spec.name}' is not usable: {origin.failed}",
                "repair the source image in its own catalog first (plan and apply that catalog)",
                loc, code="promotion-source-failed"))
        else:
            errors.extend(Diagnostic.error(summary, hint, location(spec, k), code="promotion-source-mismatch")
                          for k, summary, hint in origin_mismatches(spec, origin))
            if change.action is Action.CAPTURE:
                waiting = waiting_reason(promo, origin, now)
        # Never destructive beyond what a replace is: ``rules.capture_blockers`` gives a promotion
        # no VM to consume.
        changes[key] = replace(change, errors=change.errors + tuple(errors), waiting=waiting)


# --------------------------------------------------------------------------------------------------
# Consumers and storage (issue 11 §4, §5)


def removes_to_check(desired: DesiredState, plan: Plan) -> tuple[Image, ...]:
    """The images of ``plan``'s removes that a consumer would hold (the policy blocks their family):
    the only images whose consumers a provider needs to read (``operations.saved.read_snapshot``)."""
    return tuple(
        c.before for c in plan.changes
        if c.action is Action.REMOVE and c.before is not None and desired.policy.blocks_if_in_use(c.family)
    )


def _holders(desired: DesiredState, snapshot: Snapshot, image: Image) -> tuple[Consumer, ...]:
    if snapshot.consumers is None or not desired.policy.blocks_if_in_use(image.family):
        return ()
    return snapshot.consumers.get(image.key, ())


def _add_footprints(changes: dict[str, Change], vms: Mapping[str, VM], origins: Mapping[str, Image],
                    caps: Capabilities) -> None:
    """What each capture stores and each remove frees (a replace both), where the provider knows:
    a capture from its source VM (``caps.footprint``), a promotion from its source image
    (``caps.promotion_footprint``). No-ops and updates are skipped first: a 100,000-image plan is
    mostly no-ops (issue 13)."""
    noop, update = Action.NOOP, Action.UPDATE
    for key, c in changes.items():
        if c.action is noop or c.action is update:
            continue
        stored: Mapping[str, float] = {}
        if c.action in (Action.CAPTURE, Action.REPLACE) and c.after is not None:
            stored = _stored(c.after, vms, origins, caps)
        freed = c.before.footprint if c.before is not None else {}  # a remove or replace: a capture has none
        if stored or freed:
            changes[key] = replace(c, stored=dict(stored), freed=dict(freed))


def _stored(spec: ImageSpec, vms: Mapping[str, VM], origins: Mapping[str, Image], caps: Capabilities,
            ) -> Mapping[str, float]:
    promo = promotion_of(spec)
    if promo is not None:
        origin = origins.get(promo.key)
        if origin is None or caps.promotion_footprint is None:
            return {}
        return caps.promotion_footprint(spec, origin)
    vm = vms.get(spec.source.vm.casefold()) if spec.source.vm is not None else None
    if vm is None or caps.footprint is None:
        return {}
    return caps.footprint(spec, vm)


# --------------------------------------------------------------------------------------------------
# Declared images


def _plan_declared(
    spec: ImageSpec,
    image: Image | None,
    vms: Mapping[str, Any],
    snapshot: Snapshot,
    caps: Capabilities,
    owner: str,
    location: Any,
    *,
    force_replace: bool = False,
) -> Change:
    if image is None:
        loc = location(spec)
        errors, steps, consumes = _capture_preconditions(spec, vms, snapshot, caps, loc, location)
        return Change(
            name=spec.name,
            action=Action.CAPTURE,
            reason="not in the catalog",
            after=spec,
            fields=tuple(FieldDiff(p, None, a) for p, a in _view(spec, caps).items() if _shown(a)),
            destructive=consumes is not None,
            consumes_vm=consumes,
            steps=steps,
            errors=errors,
        )

    refusal = rules.touch_refusal(image, owner, rules.Verb.UPDATE)
    if refusal is not None:
        return _refused(spec, image, _declared_refusal(refusal.code, spec, image, owner, location(spec, "name")))

    # What may be a no-op, decided once for the fast path and the full comparison alike.
    may_be_noop = not force_replace and image.failed is None
    if may_be_noop and _same(spec, image, caps):  # the no-op fast path: no views, no location
        return _up_to_date(spec, image)
    loc = location(spec)
    before = _view(image, caps)
    after = _view(spec, caps)
    extra_errors = _compare_extra(spec, image, caps, before, after, loc)
    if image.source is None or spec.source.promotion:
        # The provider does not record the source: unknown is not a difference. Nor is a
        # promotion's: a copy records no ``ALIAS:NAME`` (``rules.same_source``).
        del before["source"], after["source"]  # both views always hold it
    if before == after and may_be_noop:
        return Change(name=spec.name, action=Action.NOOP, reason=UP_TO_DATE, before=image, after=spec)

    fields = tuple(
        FieldDiff(f.path, f.before, f.after, forces_replace=not _mutable(f.path, caps))
        for f in _field_diffs(before, after)
    )
    replacing = [f for f in fields if f.forces_replace]
    if force_replace or image.failed is not None:
        # A live image that exists but failed (Azure provisioningState Failed) is not converged:
        # the only repair is to capture it again (design §4: drift with its repair planned).
        reason = REPLACE_REQUESTED if force_replace else str(image.failed)
        return _forced_replace(spec, image, fields, vms, snapshot, caps, owner, loc, reason=reason)
    if not replacing:
        return Change(
            name=spec.name,
            action=Action.UPDATE,
            reason=_update_reason(fields),
            before=image,
            after=spec,
            fields=fields,
            steps=("update image",),
            errors=_cleared_set_only(spec, fields, caps, loc) + extra_errors,
        )

    errors, steps, consumes = _capture_preconditions(spec, vms, snapshot, caps, loc, location)
    refusal = rules.touch_refusal(image, owner, rules.Verb.REPLACE)
    if refusal is not None:
        errors = errors + (
            Diagnostic.error(
                f"image '{image.name}' is protected and would be replaced ({_names(replacing)} cannot change in place)",
                "set protect: false and apply (that only takes the marker off), then make this change",
                location(spec, "protect"),
                code=refusal.code,
            ),
        )
    return Change(
        name=spec.name,
        action=Action.REPLACE,
        reason=f"{_names(replacing)} cannot change in place",
        before=image,
        after=spec,
        fields=fields,
        destructive=True,
        consumes_vm=consumes,
        steps=("remove image",) + steps,
        errors=errors,
    )


def _cleared_set_only(
    spec: ImageSpec, fields: Sequence[FieldDiff], caps: Capabilities, loc: Location
) -> tuple[Diagnostic, ...]:
    """An update that clears a field the provider can set but not clear fails in apply: refuse it now."""
    return tuple(
        Diagnostic.error(
            f"cannot update '{spec.name}': the {caps.provider} catalog cannot clear {f.path} "
            "(an update only sets values)",
            f"declare a {f.path} for it, or remove and capture the image again",
            loc,
            code="field-not-clearable",
        )
        for f in fields
        if f.path in caps.set_only_fields and f.after is None and f.before is not None
    )


#: The reason of a replace that ``--replace`` asked for.
REPLACE_REQUESTED = "replace requested with --replace"


def _replace_requests(replace: Sequence[str], declared: Mapping[str, ImageSpec], errors: list[Diagnostic]) -> set[str]:
    """The keys of the ``--replace`` names; a name not declared is an error: the recapture needs its spec."""
    wanted = {r.casefold(): r for r in replace}
    for key, name in sorted(wanted.items()):
        if key not in declared:
            errors.append(
                Diagnostic.error(
                    f"--replace '{name}' is not declared in the desired-state file",
                    "a replace recaptures the image from its declared source: declare it, or drop the --replace "
                    "(names compare case-insensitively)",
                    code="replace",
                )
            )
    return {k for k in wanted if k in declared}


def _forced_replace(
    spec: ImageSpec,
    image: Image,
    fields: tuple[FieldDiff, ...],
    vms: Mapping[str, Any],
    snapshot: Snapshot,
    caps: Capabilities,
    owner: str,
    loc: Location,
    *,
    reason: str = REPLACE_REQUESTED,
) -> Change:
    """``--replace`` (or a failed live image, ``reason`` then saying so): remove and recapture
    ``image`` from ``spec``'s source, whatever differs."""
    errors, steps, consumes = _capture_preconditions(spec, vms, snapshot, caps, loc)
    refusal = rules.touch_refusal(image, owner, rules.Verb.REPLACE)
    if refusal is not None:
        why = "--replace" if reason == REPLACE_REQUESTED else reason
        errors = errors + (Diagnostic.error(f"{why}: {refusal.summary}", refusal.hint, loc, code=refusal.code),)
    return Change(
        name=spec.name,
        action=Action.REPLACE,
        reason=reason,
        before=image,
        after=spec,
        fields=fields,
        destructive=True,
        consumes_vm=consumes,
        steps=("remove image",) + steps,
        errors=errors,
    )


def _refused(spec: ImageSpec, image: Image, error: Diagnostic) -> Change:
    # Shown as a no-op carrying an error: the plan is not applyable, and nothing would touch it.
    return Change(name=spec.name, action=Action.NOOP, reason=error.summary, before=image, after=spec, errors=(error,))


def _capture_preconditions(
    spec: ImageSpec,
    vms: Mapping[str, Any],
    snapshot: Snapshot,
    caps: Capabilities,
    loc: Location,
    location: Any = None,
) -> tuple[tuple[Diagnostic, ...], tuple[str, ...], str | None]:
    """(errors, steps, consumed VM name) of capturing ``spec`` from the live snapshot.

    With ``location`` (``_locator``'s), each refusal points at the key it is about (``_KEY_OF``);
    a provider check without a location, and every refusal without ``location``, at ``loc``."""
    vm = vms.get(spec.source.vm.casefold()) if spec.source.vm is not None else None
    check = rules.capture_blockers(spec, vm, caps)
    errors = [
        Diagnostic.error(
            r.summary, r.hint, loc if location is None else location(spec, _KEY_OF.get(r.code, "")), code=r.code
        )
        for r in check.blockers
    ]
    if caps.extra_checks is not None:
        errors.extend(
            d if d.location is not None else Diagnostic(d.severity, d.summary, d.hint, loc, d.code)
            for d in caps.extra_checks(spec, snapshot)
        )
    steps = check.steps
    if caps.family_steps is not None:
        # What the capture needs of its family (creating the definition) runs right before it.
        steps = steps[:-1] + caps.family_steps(spec, snapshot) + steps[-1:]
    return tuple(errors), steps, check.consumes


# --------------------------------------------------------------------------------------------------
# Families a provider keeps (gallery image definitions)


def _plan_families(
    desired: DesiredState, snapshot: Snapshot, caps: Capabilities, changes: dict[str, Change], owner: str
) -> list[Diagnostic]:
    """Compare each declared family with the live one (``Snapshot.families``), declared fields only.

    A differing mutable field (``Capabilities.family_mutable``) rides on the family's first
    declared image (file order): its change gains the ``families.<f>.<field>`` diff and an
    ``update <noun> <f>`` step (a no-op becomes an update). A differing immutable field is a plan
    error, never a replace: replacing a definition deletes every version in it. So is a mutable
    difference on a family this catalog does not own. A family not live yet is created by the first
    capture into it (``Capabilities.family_steps``). Returns the plan-wide errors.
    """
    if not caps.family_mutable:
        return []
    errors: list[Diagnostic] = []
    for name, fam in desired.families.items():
        live = snapshot.families.get(fam.key)
        if live is None:
            continue
        mutable: list[FieldDiff] = []
        for key, want in fam.declared().items():
            have = _plain_family(getattr(live.spec, key), key)
            if have == _plain_family(want, key):
                continue
            path = f"families.{name}.{key}"
            if key not in caps.family_mutable:
                errors.append(Diagnostic.error(
                    f"{caps.family_noun} '{name}' has {key} {have!r}, the file declares {want!r}: "
                    f"{key} of an existing {caps.family_noun} cannot change",
                    f"declare {key}: {have} (or remove it), or declare a new family and capture into it; "
                    f"replacing the {caps.family_noun} would delete every version in it, so the plan never does",
                    _family_location(desired, fam, key), code="family-immutable"))
            else:
                mutable.append(FieldDiff(path, have, want))
        if not mutable:
            continue
        if live.owner != owner:
            errors.append(Diagnostic.error(
                f"{caps.family_noun} '{name}' is not owned by catalog '{owner}': its {_names_of(mutable)} "
                "cannot be updated",
                f"import one of its images (reconciler import NAME adopts the {caps.family_noun} too), or remove "
                "the differing fields", _family_location(desired, fam), code="family-not-owned"))
            continue
        carrier = next((s.key for s in desired.images if s.family is not None and s.family.casefold() == fam.key
                        and not (changes[s.key].action is Action.NOOP and changes[s.key].errors)), None)
        if carrier is not None:
            changes[carrier] = _with_family_update(changes[carrier], name, tuple(mutable), caps.family_noun)
    return errors


def _plain_family(value: Any, key: str) -> Any:
    """A family field's value as declared and live compare: disk controllers as a set (the only
    list field; the file gives a list, a live ``FamilySpec`` a tuple)."""
    return sorted(value) if key == "disk_controllers" else value


def _names_of(fields: Sequence[FieldDiff]) -> str:
    return ", ".join(f.path.rpartition(".")[2] for f in fields)


def _with_family_update(change: Change, name: str, fields: tuple[FieldDiff, ...], noun: str) -> Change:
    step = f"update {noun} {name}"
    reason = f"{noun} {name}: {_names_of(fields)} differ" if len(fields) > 1 else \
        f"{noun} {name}: {_names_of(fields)} differs"
    if change.action is Action.NOOP:
        return replace(change, action=Action.UPDATE, reason=reason, fields=fields, steps=(step,))
    return replace(change, fields=change.fields + fields, steps=change.steps[:-1] + (step,) + change.steps[-1:])


def _family_location(desired: DesiredState, fam: FamilySpec, key: str = "") -> Location:
    """Where ``families.<name>.<key>`` (or the entry) is in the file (``spec.positions.json_path``'s form)."""
    entry = "$.families" + (f".{fam.name}" if _SIMPLE_KEY.match(fam.name) else
                            "['" + fam.name.replace("\\", "\\\\").replace("'", "\\'") + "']")
    path = f"{entry}.{key}" if key else entry
    found = desired.positions.get(path)
    if found is not None:
        return Location(file=desired.path, line=found[0], col=found[1], json_path=path)
    return Location(file=desired.path, line=fam.line, json_path=path)


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _declared_refusal(code: str, spec: ImageSpec, image: Image, owner: str, loc: Location) -> Diagnostic:
    """A declared name that ``rules.touch_refusal`` refuses, worded for the file's point of view."""
    if code == rules.PUBLIC:
        return Diagnostic.error(
            f"image name '{spec.name}' is held by a public image",
            "public images can never be changed by this tool: choose another name",
            loc,
            code=code,
        )
    if code == rules.UNOWNED:
        return Diagnostic.error(
            f"image '{image.name}' exists but is not owned by catalog '{owner}'",
            f"run `reconciler import {image.name}` to adopt it, or choose another name",
            loc,
            code=code,
        )
    return Diagnostic.error(
        f"image '{image.name}' is owned by another catalog, '{image.owner}'",
        f"remove it from catalog '{image.owner}' first, or choose another name",
        loc,
        code=code,
    )


def _check_shared_sources(changes: dict[str, Change], location: Any) -> None:
    """A VM consumed by one capture cannot be the source of another capture in the same plan."""
    by_vm: dict[str, list[Change]] = {}
    for c in changes.values():
        if c.action in (Action.CAPTURE, Action.REPLACE) and c.after is not None and c.after.source.vm:
            by_vm.setdefault(c.after.source.vm.casefold(), []).append(c)
    for group in by_vm.values():
        consumer = next((c for c in sorted(group, key=lambda c: c.key) if c.consumes_vm), None)
        if consumer is None or len(group) < 2:
            continue
        for c in group:
            if c is consumer:
                continue
            assert c.after is not None
            err = Diagnostic.error(
                f"source VM '{consumer.consumes_vm}' is consumed by the capture of '{consumer.name}', "
                f"so it cannot also be the source of '{c.name}'",
                "capture the specialized images first in a separate apply, or use another source VM",
                location(c.after, "source.vm"),
                code="vm-consumed",
            )
            changes[c.key] = _with_error(c, err)


def _with_error(change: Change, error: Diagnostic) -> Change:
    from dataclasses import replace

    return replace(change, errors=change.errors + (error,))


# --------------------------------------------------------------------------------------------------
# Undeclared images: retention


def _retention(
    desired: DesiredState,
    snapshot: Snapshot,
    declared: Mapping[str, ImageSpec],
    owner: str,
    captured: set[str],
    spared: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Keys of owned, undeclared images that retention removes -> the N kept for their family.

    Per family: keep the newest N owned images that are not declared; older ones go. The newest
    image of the family (declared or not) is never removed, nor a protected one (the caller warns).
    Families and "newest" are judged as they will be once the plan is applied (declared families;
    ``captured``, the keys this plan captures or replaces, are the newest), so that applying a plan
    and planning again is empty. A family's ``lifecycle`` that ages its images is not a retention
    (``_aged``); ``policy.retention: {f: N}`` is ``lifecycle.f.keep: N``. ``spared``: keys never
    removed (the declared and the effective ``latest``).
    """
    out: dict[str, int] = {}

    def family_after(i: Image) -> str | None:
        # A declared, owned image takes its declared family when the plan is applied.
        s = declared.get(i.key)
        return s.family if s is not None and i.owner == owner else i.family

    for family, entry in desired.policy.lifecycles().items():
        if entry.ages:
            continue
        keep = entry.keep
        members = [i for i in snapshot.images if i.category is Category.USER and family_after(i) == family]
        if not members:
            continue
        newest: Image | None = max(members, key=_age_key)
        if any(declared[k].family == family for k in captured):
            # A capture (or replace) into the family becomes its newest image once applied: judging
            # "newest" on today's images would spare one that the next plan then removes.
            newest = None
        undeclared = sorted(
            (i for i in members if i.owner == owner and i.key not in declared),
            key=_age_key,
            reverse=True,
        )
        for image in undeclared[keep:]:
            if (newest is None or image.key != newest.key) and image.key not in spared:
                out[image.key] = keep
    return out


# --------------------------------------------------------------------------------------------------
# Lifecycle and a declared latest (issue 11 §2, §3; the rules are in ``lifecycle.py``)


def _uses_time(desired: DesiredState) -> bool:
    """Whether the plan records ``now``: a lifecycle ages images, ``latest`` rolls out in rings, or a
    promotion waits for its ``promote_when.min_age`` (applying the saved plan then plans again at
    that time: a promotion reviewed as waiting still waits at apply, issue 11 §3)."""
    return (any(e.ages for e in desired.policy.lifecycles().values())
            or any(f.latest_rollout for f in desired.families.values())
            or any((p := promotion_of(s)) is not None and p.min_age != "" for s in desired.images))


def _family_members(snapshot: Snapshot, family: str) -> list[Image]:
    key = family.casefold()
    return [i for i in snapshot.images if i.category is Category.USER and (i.family or "").casefold() == key]


def _latest_target(fam: FamilySpec, names: Iterable[str]) -> str | None:
    """The name of the version ``fam.latest`` names among ``names`` (the highest, if several)."""
    found = [n for n in names if fam.latest is not None and names_version(n, fam.latest)]
    return max(found, key=lambda n: version_key(n, "")) if found else None


def _live_latest(images: Iterable[Image]) -> str | None:
    """What ``latest`` resolves to now among the live ``images`` of a family (version-wide flags)."""
    return resolve_latest(Member(i.name, i.created, bool(i.extra.get("exclude_from_latest"))) for i in images)


def _latest_spared(desired: DesiredState, snapshot: Snapshot, declared: Mapping[str, ImageSpec],
                   live: Mapping[str, Image], captured: set[str]) -> frozenset[str]:
    """Keys no retention or lifecycle removes or deprecates: each family's declared ``latest``, and
    the version ``latest`` resolves to once the plan is applied (declared families and flags; a
    capture is the newest), so that applying a plan and planning again stays empty."""
    out: set[str] = set()
    families = {f.casefold() for f in desired.policy.lifecycles()} | {f.key for f in desired.families.values()}
    for family in families:
        members: list[Member] = []
        for i in snapshot.images:
            spec = declared.get(i.key)
            fam_after = spec.family if spec is not None else i.family
            if i.category is Category.USER and (fam_after or "").casefold() == family:
                said = spec.extra.get("exclude_from_latest") if spec is not None else None
                created = "\uffff" if i.key in captured else i.created  # recaptured: the newest
                members.append(Member(i.name, created, bool(i.extra.get("exclude_from_latest")
                                                            if said is None else said)))
        members.extend(Member(s.name, "\uffff", bool(s.extra.get("exclude_from_latest")))
                       for s in declared.values() if (s.family or "").casefold() == family and s.key not in live)
        fam = next((f for f in desired.families.values() if f.key == family), None)
        target = _latest_target(fam, [m.name for m in members]) if fam is not None and fam.latest else None
        chosen = target if target is not None else resolve_latest(members)
        if chosen is not None:
            out.add(chosen.casefold())
    return frozenset(out)


def _aged(desired: DesiredState, snapshot: Snapshot, declared: Mapping[str, ImageSpec], owner: str,
          spared: frozenset[str], now: datetime | None, errors: list[Diagnostic]) -> dict[str, Decision]:
    """Each family lifecycle that ages images: key -> deprecate or delete (``lifecycle_decisions``),
    over the family's owned, undeclared images. Without ``now`` it decides nothing (an error)."""
    entries = {f: e for f, e in desired.policy.lifecycles().items() if e.ages}
    if not entries:
        return {}
    if now is None:
        errors.append(Diagnostic.error(
            "policy.lifecycle deprecates and deletes by age, but the plan was given no time (now)",
            "this is a bug in the caller: the command line always passes the time (RECONCILER_NOW in tests)",
            code="lifecycle-no-time"))
        return {}
    out: dict[str, Decision] = {}
    for family, entry in entries.items():
        members = [i for i in _family_members(snapshot, family) if rules.owned(i, owner) and i.key not in declared]
        out.update(lifecycle_decisions(
            members, keep=entry.keep, now=now, spared=spared,
            deprecate_after=parse_duration(entry.deprecate_after) if entry.deprecate_after else None,
            delete_after=parse_duration(entry.delete_after) if entry.delete_after else None))
    return out


def _undeclared_update(image: Image, caps: Capabilities, extra: Mapping[str, Any],
                       tags: Mapping[str, str] | None = None) -> ImageSpec:
    """The spec an update of the undeclared ``image`` applies: the image as it is, ``extra`` (and
    ``tags``) changed. A provider that compares its fields plainly (local) keeps the fields it has;
    one with its own comparison (azure) manages only the fields given (declared vs live)."""
    spec = spec_from_image(image)
    kept = {k: v for k, v in image.extra.items() if k in caps.image_fields and v is not None} \
        if caps.compare_extra is None else {}
    return replace(spec, extra={**kept, **extra}, tags=dict(tags) if tags is not None else spec.tags)


def _deprecate(changes: dict[str, Change], aged: Mapping[str, Decision], live: Mapping[str, Image],
               vms: Mapping[str, Any], snapshot: Snapshot, caps: Capabilities, owner: str, location: Any,
               now: datetime | None) -> None:
    """A deprecation is an update of the undeclared image: end of life now, excluded from latest,
    tagged ``DEPRECATED_TAG`` with the time (``lifecycle.deprecation_fields``)."""
    if now is None:
        return
    for key, decision in sorted(aged.items()):
        if decision.action != "deprecate" or key in changes:
            continue
        image = live[key]
        spec = _undeclared_update(image, caps, deprecation_fields(now, caps.image_fields),
                                  {**image.tags, DEPRECATED_TAG: format_time(now)})
        change = _plan_declared(spec, image, vms, snapshot, caps, owner, location)
        if change.action is Action.UPDATE:
            changes[key] = replace(change, reason=decision.reason)


def _plan_latest(desired: DesiredState, snapshot: Snapshot, caps: Capabilities, changes: dict[str, Change],
                 declared: Mapping[str, ImageSpec], live: Mapping[str, Image], vms: Mapping[str, Any], owner: str,
                 location: Any, errors: list[Diagnostic], now: datetime | None = None) -> tuple[LatestMove, ...]:
    """Set the exclude-from-latest flag of every version of each family that declares ``latest``
    (``lifecycle.latest_flags``): the declared version not excluded, every higher one excluded,
    lower ones as they are. A declared image takes its flag in its own change; an owned,
    undeclared one gets an update; one this catalog may not change, or a declared flag that says
    otherwise, is an error. Returns where each family's ``latest`` moves."""
    if "exclude_from_latest" not in caps.image_fields:
        return ()
    moves: list[LatestMove] = []
    for fam in desired.families.values():
        if fam.latest is None:
            continue
        members = {i.key: i for i in _family_members(snapshot, fam.name)
                   if not (i.key in changes and changes[i.key].action is Action.REMOVE)}
        captures = [s for s in declared.values() if (s.family or "").casefold() == fam.key and s.key not in live]
        names = [i.name for i in members.values()] + [s.name for s in captures]
        target = _latest_target(fam, names)
        if target is None:
            shown = ", ".join(sorted((version_of(n) for n in names), key=lambda n: version_key(n, ""))[-5:]) or "none"
            errors.append(Diagnostic.error(
                f"families.{fam.name}.latest: {fam.latest} is no version of family '{fam.name}'",
                f"declare that image, or name a version the family holds (highest: {shown})",
                _family_location(desired, fam, "latest"), code="latest-unknown"))
            continue
        # A capture is the newest (its creation time sorts after every live one).
        flags = latest_flags([Member(i.name, i.created) for i in members.values()]
                             + [Member(s.name, "\uffff") for s in captures], target)
        for name, want in sorted(flags.items()):
            key = name.casefold()
            spec = declared.get(key)
            image = live.get(key)
            if spec is not None:
                said = spec.extra.get("exclude_from_latest")
                if said is not None and bool(said) != want:
                    errors.append(Diagnostic.error(
                        f"image '{spec.name}' declares exclude_from_latest: {str(bool(said)).lower()}, but "
                        f"families.{fam.name}.latest: {fam.latest} needs it {str(want).lower()}",
                        f"remove exclude_from_latest from '{spec.name}' (the plan sets it from latest), "
                        "or change latest", location(spec, "exclude_from_latest"), code="latest-conflict"))
                    continue
                if said is None:
                    flagged = replace(spec, extra={**spec.extra, "exclude_from_latest": want})
                    changes[key] = _replan(changes[key], flagged, image, vms, snapshot, caps, owner, location)
                continue
            assert image is not None
            if bool(image.extra.get("exclude_from_latest")) == want:
                continue
            if not rules.owned(image, owner):  # an owned image may always be updated (protected too)
                errors.append(Diagnostic.error(
                    f"latest of family '{fam.name}' cannot resolve to {version_of(target)}: '{image.name}' "
                    f"needs exclude_from_latest: {str(want).lower()}, but {rules.ownership_phrase(image)}",
                    f"set its flag in the catalog that owns it, or declare latest: {version_of(image.name)}",
                    _family_location(desired, fam, "latest"), code="latest-not-owned"))
                continue
            if key in changes:  # a deprecation: it excludes the version already (the target is spared)
                continue
            spec = _undeclared_update(image, caps, {"exclude_from_latest": want})
            change = _plan_declared(spec, image, vms, snapshot, caps, owner, location)
            if change.action is Action.UPDATE:
                changes[key] = replace(change, reason=f"latest({fam.name}): {version_of(target)}")
        if fam.latest_rollout and "target_regions" in caps.image_fields:
            rolled = _rollout(fam, target, members, declared, live, changes, vms, snapshot, caps, owner, location,
                              errors, now)
            if rolled is not None:
                moves.extend(rolled)
                continue
        before = _live_latest(i for i in _family_members(snapshot, fam.name))
        if before is None or before.casefold() != target.casefold():
            moves.append(LatestMove(fam.name, version_of(before) if before else None, version_of(target)))
    return tuple(moves)


def _region_name(item: Any) -> str:
    name = item if isinstance(item, str) else (item.get("name") if isinstance(item, Mapping) else "")
    return str(name or "").replace(" ", "").lower()


def _rollout(fam: FamilySpec, target: str, members: Mapping[str, Image],
             declared: Mapping[str, ImageSpec], live: Mapping[str, Image], changes: dict[str, Change],
             vms: Mapping[str, Any], snapshot: Snapshot, caps: Capabilities, owner: str, location: Any,
             errors: list[Diagnostic], now: datetime | None) -> tuple[LatestMove, ...] | None:
    """``latest_rollout``: ``latest`` moves to ``target`` ring by ring (``lifecycle.ring_progress``).
    The target's regions not moved yet are excluded from latest there (region-level flag), so the
    previous version stays latest in them; the rings moved and when are the target's
    ``LATEST_RING_TAG``. None: no rollout applies (nothing to roll from, a rollback, which moves at
    once, or a target without regions); the caller then moves it everywhere."""
    key = target.casefold()
    spec, image = declared.get(key), live.get(key)
    previous = _live_latest(i for k, i in members.items() if k != key)
    if previous is None or version_key(previous, "") >= version_key(target, ""):
        return None
    source = spec.extra.get("target_regions") if spec is not None else (image.extra.get("target_regions")
                                                                        if image is not None else None)
    if not source:
        return None
    if now is None:
        errors.append(Diagnostic.error(
            f"families.{fam.name}.latest_rollout moves latest by time, but the plan was given no time (now)",
            "this is a bug in the caller: the command line always passes the time (RECONCILER_NOW in tests)",
            code="lifecycle-no-time"))
        return ()
    rings = fam.latest_rollout
    state = ring_progress([r.after for r in rings], image.tags.get(LATEST_RING_TAG) if image is not None else None,
                          now)
    moved = {r for ring in rings[:state.moved] for r in ring.regions}
    listed = {r for ring in rings for r in ring.regions}
    complete = state.moved == len(rings)
    items: list[Any] = []
    for item in source:
        name = _region_name(item)
        entry = {"name": item} if isinstance(item, str) else dict(item)
        want = not (name in moved or (complete and name not in listed))
        said = entry.get("exclude_from_latest")
        if spec is not None and said is not None and bool(said) != want:
            errors.append(Diagnostic.error(
                f"image '{spec.name}' declares exclude_from_latest: {str(bool(said)).lower()} in region {name}, "
                f"but families.{fam.name}.latest_rollout needs it {str(want).lower()} there now",
                "remove exclude_from_latest from its target_regions (the rollout sets it), or the rollout",
                location(spec, "target_regions"), code="latest-conflict"))
            return ()
        entry["exclude_from_latest"] = want
        items.append(entry)
    base = changes.get(key)
    current = base.after if base is not None and base.after is not None else (
        spec if spec is not None else _undeclared_update(image, caps, {}) if image is not None else None)
    assert current is not None
    rolled = replace(current, extra={**current.extra, "exclude_from_latest": False, "target_regions": items},
                     tags={**current.tags, LATEST_RING_TAG: state.tag})
    if image is None or (base is not None and base.action is Action.CAPTURE):
        if base is not None:  # the capture creates the version with ring 1's flags and tag
            changes[key] = replace(base, after=rolled)
    else:
        change = _plan_declared(rolled, image, vms, snapshot, caps, owner, location)
        if change.action is Action.UPDATE:
            change = replace(change, reason=f"latest({fam.name}): ring {state.moved} of {len(rings)}")
        if base is not None or change.action is Action.UPDATE:  # an undeclared version: only its update
            changes[key] = change
    before, after = version_of(previous), version_of(target)
    out = []
    if state.advanced:
        ring = rings[state.moved - 1].regions + (tuple(sorted(
            _region_name(i) for i in source if _region_name(i) not in listed)) if complete else ())
        out.append(LatestMove(fam.name, before, after, regions=ring))
    if state.next_due is not None:
        nxt = rings[state.moved].regions
        if state.moved + 1 == len(rings):
            nxt = nxt + tuple(sorted(_region_name(i) for i in source if _region_name(i) not in listed))
        out.append(LatestMove(fam.name, before, after, regions=nxt, due=format_time(state.next_due)))
    return tuple(out)


def _replan(change: Change, spec: ImageSpec, image: Image | None, vms: Mapping[str, Any], snapshot: Snapshot,
            caps: Capabilities, owner: str, location: Any) -> Change:
    """``change`` of a declared image planned again from ``spec`` (its computed latest flag set).
    A capture or a replace keeps its own planning (the flag rides on the spec it creates); the
    family update ``_plan_families`` put on it is put on the new change again."""
    if image is None or change.action not in (Action.NOOP, Action.UPDATE):
        return replace(change, after=spec)
    fresh = _plan_declared(spec, image, vms, snapshot, caps, owner, location)
    groups: dict[str, list[FieldDiff]] = {}
    for f in change.fields:
        if f.path.startswith("families."):
            groups.setdefault(f.path.removeprefix("families.").rpartition(".")[0], []).append(f)
    for name, fields in groups.items():
        fresh = _with_family_update(fresh, name, tuple(fields), caps.family_noun)
    return fresh


def _age_key(image: Image) -> tuple[str, str]:
    return (image.created, image.key)


# --------------------------------------------------------------------------------------------------
# Views and diffs


#: What the planner compares, as plain data under the spec's names (``protect``), in display order.
#: A source is compared by identity (``vm``/``vhd``/``image``/``snapshot``/``disk``/``data_snapshots``):
#: ``generalize``, ``deprovision``, ``sysprepped`` are how to capture, not what.
_VIEW = Codec(
    {
        ImageSpec: Shape(keys=_FIELDS),
        Image: Shape(
            keys=tuple("protected" if f == "protect" else f for f in _FIELDS), rename={"protected": "protect"}
        ),
        Source: Shape(keys=("vm", "vhd", "image", "snapshot", "disk", "data_snapshots"), omit_defaults=True),
    }
)


# The no-op fast path (issue 13): most declared images are up to date, and building both views of
# each (dicts through the codec) to find that out was most of the planner's time. ``_same`` compares
# the same fields as ``_view``, read straight off both objects: its attribute lists are derived from
# ``_VIEW``, the one definition of what is compared, so a field added there is compared here too
# (tests/unit/test_plan_fast.py perturbs every field of both classes and checks the plans agree).
_SPEC_FIELDS = attrgetter(*(k for k in _VIEW.keys(ImageSpec) if k != "source"))
_IMAGE_FIELDS = attrgetter(*(
    {v: k for k, v in _VIEW.shape(Image).rename.items()}.get(k, k) for k in _VIEW.keys(ImageSpec) if k != "source"
))
_SOURCE_FIELDS = attrgetter(*_VIEW.keys(Source))


_NEW_CHANGE = positional(Change)
_NOTHING: Mapping[str, float] = {}  # shared by every no-op: mappings held by frozen types are never mutated


def _up_to_date(spec: ImageSpec, image: Image) -> Change:
    """``Change(name=spec.name, action=Action.NOOP, reason=UP_TO_DATE, before=image, after=spec)``,
    built as the fast path builds 100,000 of them (``model.positional``; issue 13)."""
    return _NEW_CHANGE(spec.name, Action.NOOP, UP_TO_DATE, image, spec, (), False, None, (), (), (), (), _NOTHING,
                       _NOTHING, None, None)


def _same(spec: ImageSpec, image: Image, caps: Capabilities) -> bool:
    """Whether ``_view(image)`` equals ``_view(spec)``, known without building either; False
    whenever the answer needs the full comparison (a provider's own ``compare_extra``).

    True only when the views are equal; a False is always checked again by the full comparison."""
    if caps.compare_extra is not None or _SPEC_FIELDS(spec) != _IMAGE_FIELDS(image):
        return False
    if (image.source is not None and image.source is not spec.source  # the local snapshot shares an equal one
            and _SOURCE_FIELDS(spec.source) != _SOURCE_FIELDS(image.source) and not spec.source.promotion):
        return False
    if not spec.extra and not image.extra:
        return True  # neither holds a provider field
    return all(spec.extra.get(k) == image.extra.get(k) for k in caps.image_fields)


def _view(obj: ImageSpec | Image, caps: Capabilities) -> dict[str, Any]:
    """The compared fields of a spec or a live image, then the provider's ``extra.<key>`` fields."""
    view = _VIEW.to_dict(obj)
    for k in sorted(caps.image_fields):
        view[f"extra.{k}"] = obj.extra.get(k)
    return view


def _compare_extra(
    spec: ImageSpec, image: Image, caps: Capabilities, before: dict[str, Any], after: dict[str, Any], loc: Location
) -> tuple[Diagnostic, ...]:
    """Let the provider say how its ``extra`` fields compare (``Capabilities.compare_extra``):
    its entries replace the plain ``extra.<key>`` ones of both views; its errors come back located."""
    if caps.compare_extra is None:
        return ()
    compared = caps.compare_extra(spec, image)
    for view, entries in ((before, compared.before), (after, compared.after)):
        for key in [k for k in view if k.startswith("extra.")]:
            del view[key]
        view.update(entries)
    return tuple(Diagnostic.error(summary, hint, loc, code=code) for summary, hint, code in compared.errors)


def _shown(value: Any) -> bool:
    return value not in (None, {}, [], False, "")


def _field_diffs(before: dict[str, Any], after: dict[str, Any]) -> list[FieldDiff]:
    """Plain ``path: before -> after`` records of what differs, in a stable order."""
    out: list[FieldDiff] = []
    for key in before.keys() | after.keys():
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if isinstance(b, dict) and isinstance(a, dict) or isinstance(b, list) and isinstance(a, list):
            out.extend(_deep_diffs(key, b, a))
        else:
            out.append(FieldDiff(key, b, a))
    return sorted(out, key=lambda f: (_field_rank(f.path), f.path))


def _deep_diffs(root: str, before: Any, after: Any) -> Iterable[FieldDiff]:
    from deepdiff import DeepDiff  # late: only an image that differs in a mapping or list needs it

    tree = DeepDiff(before, after, view="tree", verbose_level=2)
    for report in tree.values():
        for level in report:
            parts = level.path(output_format="list")
            path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
            yield FieldDiff(path, _plain(level.t1), _plain(level.t2))


def _plain(value: Any) -> Any:
    """deepdiff marks a missing side with a ``NotPresent`` object: it becomes None."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return None


#: A compared field's rank in display order; ``extra.*`` (any other top) after them all.
_RANK = {f: i for i, f in enumerate(_FIELDS)}


def _field_rank(path: str) -> int:
    return _RANK.get(_top(path), len(_FIELDS))


#: The top of a field's path: ``extra.`` and the next name, or the first name.
_TOP = re.compile(r"(?:extra\.)?[^.\[]*")


def _top(path: str) -> str:
    """``tags.team`` -> ``tags``; ``extra.target_regions[0].name`` -> ``extra.target_regions``."""
    return _TOP.match(path)[0]  # type: ignore[index]  # the pattern matches every string


def _mutable(path: str, caps: Capabilities) -> bool:
    return _top(path) in caps.mutable_fields


def _names(fields: Iterable[FieldDiff]) -> str:
    seen: list[str] = []
    for f in fields:
        t = _top(f.path).removeprefix("extra.")
        if t not in seen:
            seen.append(t)
    return ", ".join(seen)


def _update_reason(fields: Sequence[FieldDiff]) -> str:
    tops = {_top(f.path) for f in fields}
    if tops == {"protect"}:
        (f,) = [f for f in fields if _top(f.path) == "protect"]
        return "protection marker added" if f.after else "protection marker removed"
    names = _names(fields)
    return f"{names} differ{'' if ', ' in names or names in _PLURAL_FIELDS else 's'}"


#: Field names that are plural nouns: "tags differ", not "tags differs".
_PLURAL_FIELDS = frozenset({"tags", "target_regions"})


# --------------------------------------------------------------------------------------------------
# Targets, fingerprints, locations


def _select_targets(
    changes: dict[str, Change], targets: Sequence[str], errors: list[Diagnostic], snapshot: Snapshot, owner: str
) -> dict[str, Change]:
    """Keep only the targeted changes. The owned live images are valid targets even when the plan
    keeps them (prune off, protected) and so holds no change for them."""
    if not targets:
        return changes
    known = {i.key for i in snapshot.images if rules.owned(i, owner)} | snapshot.unchanged.keys()
    wanted = {t.casefold(): t for t in targets}
    for key, name in sorted(wanted.items()):
        if key not in changes and key not in known:
            errors.append(
                Diagnostic.error(
                    f"--target '{name}' matches no declared image and no owned image",
                    "check the name (names compare case-insensitively) or drop the --target",
                    code="target",
                )
            )
    return {k: c for k, c in changes.items() if k in wanted}


def _relevant_fingerprints(desired: DesiredState, snapshot: Snapshot, owner: str, declared: Mapping[str, ImageSpec],
                           live: Mapping[str, Image], vms: Mapping[str, Any],
                           changes: Mapping[str, Change]) -> dict[str, str]:
    """What a saved plan depends on: declared names (``""`` when absent), owned images, the source
    VMs of its captures and replaces, the managed images, snapshots and disks captures read (when
    read).

    Recording only these keeps unrelated catalog activity (someone else's images, public image
    updates, a change to the VM an up-to-date image was captured from) from making a saved plan
    stale: only a capture reads its VM (``_capture_preconditions``). ``declared``, ``live`` and
    ``vms``: ``make_plan``'s indexes (key -> spec, image, VM), built once; ``changes``: its changes
    by key (an image in ``Snapshot.unchanged`` has none).
    """
    capturing = (Action.CAPTURE, Action.REPLACE)
    out: dict[str, str] = {}
    sources = snapshot.capture_sources
    get_image, get_vm, get_unchanged = live.get, vms.get, snapshot.unchanged.get
    for key, spec in declared.items():  # 100,000 times in a large plan: plain concatenations (issue 13)
        image = get_image(key)
        out["image:" + key] = image.fingerprint if image is not None else get_unchanged(key, "")
        vm_name = spec.source.vm
        if vm_name and (change := changes.get(key)) is not None and change.action in capturing:
            vm_key = vm_name.casefold()
            vm = get_vm(vm_key)
            out["vm:" + vm_key] = vm.fingerprint if vm is not None else ""
        if sources is not None:  # issue 10 §3: the image, snapshot or disk read
            for kind, ref in spec.source.disk_refs():
                source = sources.get(capture_source_key(kind, ref))
                out[f"source:{capture_source_key(kind, ref)}"] = source.fingerprint if source is not None else ""
    for key, image in live.items():
        if rules.owned(image, owner):
            out["image:" + key] = image.fingerprint
    families = {f.key for f in desired.families.values()} | {s.family for s in desired.images if s.family}
    for key in {f.casefold() for f in families}:
        if key in snapshot.families:
            out[f"family:{key}"] = snapshot.families[key].fingerprint
    return {k: out[k] for k in sorted(out)}


#: The key of an entry each capture refusal is about (``source.vm`` for the VM's state).
_KEY_OF = {
    rules.VM_MISSING: "source.vm",
    rules.OS_MISMATCH: "os",
    rules.VM_NOT_GENERALIZED: "source.vm",
    rules.VM_GENERALIZED: "source.vm",
    rules.VM_POWER_STATE: "source.vm",
    rules.TYPE_UNSUPPORTED: "type",
    rules.SPECIALIZED_UNSUPPORTED: "os_state",
    rules.SOURCE_UNSUPPORTED: "source",
}


def _locator(desired: DesiredState, index: Mapping[str, int]) -> Any:
    """``location(spec, key="")``: where ``key`` (``source.vm``) of ``spec``'s entry is in the file
    (``index``: the entry of each image key, the last where a name repeats).

    A key the entry does not spell (``source: {vhd: ...}`` has no ``source.vm``) falls back to its
    nearest parent, then to the entry itself (``desired.positions``; its line, column 0 when unknown).
    """

    def location(spec: ImageSpec, key: str = "") -> Location:
        entry = f"$.images[{index.get(spec.key, 0)}]"
        path = f"{entry}.{key}" if key else entry
        parts = key.split(".") if key else []  # the entry alone never reads positions: they cost a parse
        while parts:
            found = desired.positions.get(".".join([entry, *parts]))
            if found is not None:
                return Location(file=desired.path, line=found[0], col=found[1], json_path=path)
            parts.pop()
        return Location(file=desired.path, line=spec.line, json_path=path)  # col: 0

    return location
