"""plandoc: the no-op count of the summary and the storage totals, on the branches mutation testing
found untested (a no-op listed as a change because it warns; a plan that only stores or only frees)."""

from __future__ import annotations

import dataclasses

from test_render_plans import full_plan, noop, remove_old, update_label

from reconciler.codec import OMIT
from reconciler.errors import Diagnostic
from reconciler.model import Action, Change, Plan
from reconciler.plandoc import PLAN_FORMAT, plan_document, storage_totals


def _plan(*changes: Change) -> Plan:
    return dataclasses.replace(full_plan(), changes=changes, fingerprints={})


def _warning(c: Change) -> Change:
    return dataclasses.replace(c, warnings=(Diagnostic.warning("w", "h"),))


def test_a_listed_noop_counts_once_beside_the_unchanged_ones() -> None:
    plan = _plan(update_label(), _warning(noop("loud")), noop("a"), noop("b"))
    doc = plan_document(plan)
    assert [c["name"] for c in doc["resource_changes"]] == [update_label().name, "loud"]
    assert doc["summary"]["no_op"] == 3
    only_listed = plan_document(_plan(_warning(noop("loud")), _warning(noop("louder"))))
    assert only_listed["summary"]["no_op"] == 2 and only_listed["unchanged"] == {}


def test_the_codec_summary_counts_the_noops_of_the_plan() -> None:
    # PLAN_FORMAT (exported) gives every change, unchanged ones included, with its own count.
    body = PLAN_FORMAT.to_dict(_plan(update_label(), noop("a"), _warning(noop("b")), remove_old()))
    assert body["summary"]["no_op"] == 2
    assert body["summary"]["update"] == 1 and body["summary"]["remove"] == 1
    assert PLAN_FORMAT.to_dict(_plan(update_label()))["summary"]["no_op"] == 0


def _stores(gib: float) -> Change:
    return dataclasses.replace(update_label(), action=Action.CAPTURE, stored={"local": gib})


def _frees(gib: float) -> Change:
    return dataclasses.replace(remove_old(), freed={"Standard_LRS": gib})


def test_storage_totals_when_the_plan_only_stores_or_only_frees() -> None:
    assert storage_totals(_plan(_stores(30.0))) == {"stored": {"local": 30.0}, "freed": {}, "stored_gib": 30.0,
                                                   "freed_gib": 0}
    assert storage_totals(_plan(_frees(4.0))) == {"stored": {}, "freed": {"Standard_LRS": 4.0}, "stored_gib": 0,
                                                 "freed_gib": 4.0}
    assert storage_totals(_plan(_stores(1.0), _frees(2.0)))["stored_gib"] == 1.0
    assert storage_totals(_plan(update_label())) is OMIT
