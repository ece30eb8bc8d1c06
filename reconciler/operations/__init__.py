"""Operations: what each command does, as functions a Python user or a test calls without typer.

Layer: orchestration, between the command line and the core. It reads the desired-state file, the
saved plan and the seed (through ``files``), opens providers, takes the catalog lock and strings
``spec`` → ``plan`` → ``apply`` together; the rules it applies on the way (a saved plan is still
the plan, what ``import`` may adopt, what ``export`` writes, where ``catalog init`` seeds) live
here and only here. It never prints, prompts, reads ``os.environ`` or exits, and imports no
typer: the process environment arrives as an ``Environment``, progress goes to the hooks and
callbacks passed in, failures are ``ReconcilerError`` subclasses, and outcomes are returned as
data for the caller (``reconciler.cli``) to render.

One module per concern: ``environment`` (``Environment``: catalog defaults, trusted hosts, run id),
``loading`` (the desired-state file and its provider), ``lock`` (the catalog lock), ``saved``
(plans, saved plans, apply), ``adopt`` (``import``), ``export``, ``seeding`` (``catalog init``),
``consumers`` (who uses an image) and ``catalogs`` (many catalogs: ``plan DIR``, ``catalogs DIR``).
Callers import from here.
"""

from __future__ import annotations

from .adopt import Adoption, adopt, check_adoption
from .catalogs import CATALOG_SUFFIXES, CatalogFile, CatalogPlan, MultiPlan, find_catalogs, plan_catalogs
from .consumers import ConsumerReport, find_consumers
from .environment import Environment
from .export import Export, export_spec, owned_images
from .loading import (
    DEFAULT_FILE,
    check_desired,
    load_desired,
    open_catalog,
    parse_desired,
    read_path,
    validate_desired,
)
from .lock import NO_LOCK_WARNING, NoLock, catalog_lock, unlock_command
from .saved import (
    ApplyRequest,
    apply_changes,
    apply_saved,
    make_plan,
    plan_to_apply,
    read_apply_request,
    read_plan,
    verify_saved_plan,
)
from .seeding import InitResult, init_catalog, local_catalog_path

__all__ = [
    "CATALOG_SUFFIXES",
    "Adoption",
    "ApplyRequest",
    "CatalogFile",
    "CatalogPlan",
    "ConsumerReport",
    "MultiPlan",
    "DEFAULT_FILE",
    "Environment",
    "Export",
    "InitResult",
    "NO_LOCK_WARNING",
    "NoLock",
    "adopt",
    "apply_changes",
    "apply_saved",
    "catalog_lock",
    "check_adoption",
    "check_desired",
    "validate_desired",
    "export_spec",
    "find_catalogs",
    "find_consumers",
    "init_catalog",
    "load_desired",
    "local_catalog_path",
    "make_plan",
    "open_catalog",
    "owned_images",
    "parse_desired",
    "plan_catalogs",
    "plan_to_apply",
    "read_apply_request",
    "read_path",
    "read_plan",
    "unlock_command",
    "verify_saved_plan",
]
