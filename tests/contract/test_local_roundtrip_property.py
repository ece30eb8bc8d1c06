"""Design §8's first invariant against the real embedded catalog, not a simulation:
for random catalogs and desired states, plan -> apply (SQLite, real provider) -> plan is empty,
and nothing unowned, public or protected was touched."""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings

from reconciler.apply import apply_plan
from reconciler.model import Capabilities, Category, DesiredState, Outcome, Snapshot
from reconciler.plan import make_plan, unchanged_test
from reconciler.providers.local import LocalProvider, capabilities, init_catalog
from reconciler.providers.local.store import _IMAGE_COLUMNS, _image_from_row
from tests.unit.planning import action_kinds, applyable_worlds, thinned

OWNER = "platform"
_counter = itertools.count()


def _codec_read(path: Path) -> tuple[object, ...]:
    """The images as the catalog's codec reads one row (``store._image_from_row``): the snapshot's
    own reader (``store.images_from_rows``, issue 13) must build exactly these, types included
    (``repr``: an enum is not its text, nor True 1)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images ORDER BY key").fetchall()
    finally:
        conn.close()
    return tuple(_image_from_row(r) for r in rows)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(applyable_worlds(owner=OWNER, provider="local"))
def _roundtrip(world):
    desired, seed, roles = world
    caps = capabilities({})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"c{next(_counter)}.db"
        init_catalog(path, seed)
        provider = LocalProvider(str(path), OWNER, capabilities=caps)
        try:
            before = provider.snapshot()
            assert repr(before.images) == repr(_codec_read(path))
            _assert_thinned(provider, desired, caps)
            plan = make_plan(desired, before, caps)
            STATS["examples"] += 1
            STATS.update(action_kinds(plan))
            if plan.errored:
                STATS["errored"] += 1
                event("errored")
                assert not plan.applyable
                return
            STATS["applyable"] += 1
            result = apply_plan(plan, provider, parallelism=3)
            assert result.ok, [r for r in result.results if r.outcome is not Outcome.DONE]
            after = provider.snapshot()
            assert repr(after.images) == repr(_codec_read(path))
            _assert_shares(provider.snapshot(desired.images), after, desired)
            _assert_thinned(provider, desired, caps)
            again = make_plan(desired, after, caps)
            assert not again.errored, again.all_errors
            assert again.pending == (), [(c.name, c.action, c.reason) for c in again.pending]
            # Never touched: unowned, public, protected-and-undeclared images keep their fingerprint.
            now = after.image_index()
            declared = {s.key for s in desired.images}
            for img in before.images:
                untouchable = img.owner != OWNER or img.category is Category.PUBLIC
                if untouchable or (img.protected and img.key not in declared):
                    assert img.key in now and replace(now[img.key]) == img, (img.name, roles.get(img.name))
        finally:
            provider.close()


def _assert_shares(shared: Snapshot, alone: Snapshot, desired: DesiredState) -> None:
    """A snapshot read ``like`` the desired state (``store.images_from_rows``) is the same snapshot,
    types included, and holds the spec's own value wherever one is equal."""
    assert repr(shared) == repr(alone)
    specs = {s.name: s for s in desired.images}
    for image in shared.images:
        spec = specs.get(image.name)
        if spec is None:
            continue
        STATS["shared"] += 1
        assert image.name is spec.name
        assert (image.label is spec.label) == (image.label == spec.label)
        assert (image.tags is spec.tags) == (image.tags == spec.tags)
        if image.source is not None and image.source == spec.source:
            assert image.source is spec.source


def _assert_thinned(provider: LocalProvider, desired: DesiredState, caps: Capabilities) -> None:
    """Read with the planner's ``unchanged_test``, the catalog keeps each up-to-date image as its
    fingerprint: the snapshot the test thins (``planning.thinned``), whose plan is the full one's."""
    for fingerprints in (True, False):
        thin = provider.snapshot(desired.images, unchanged_test(desired, caps, fingerprints=fingerprints))
        full = provider.snapshot()
        assert repr(thin) == repr(thinned(desired, full, caps, fingerprints=fingerprints))
        STATS["thinned"] += len(thin.unchanged)
        planned = make_plan(desired, full, caps)
        expected = tuple(replace(c, before=None) if c.key in thin.unchanged else c for c in planned.changes)
        assert make_plan(desired, thin, caps).all_changes() == expected


STATS: Counter[str] = Counter()


def test_plan_apply_plan_is_empty_on_the_real_catalog():
    STATS.clear()
    _roundtrip()
    total = STATS["examples"]
    print("real-catalog round trip:", {k: f"{v / total:.0%}" for k, v in sorted(STATS.items())})
    assert STATS["applyable"] / total >= 0.7, STATS
    assert STATS["update"] / total >= 0.3 and STATS["replace"] / total >= 0.1, STATS
    assert STATS["shared"] >= total, STATS  # most examples have images of declared names
    assert STATS["thinned"] >= total, STATS  # and up-to-date images, once applied
