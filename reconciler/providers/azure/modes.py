"""Which scope a catalog's settings select: the one place that tells the two modes apart.

Layer: edge (provider), pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .gallery import GalleryScope
from .managed import ManagedScope
from .scope import Scope, Target

#: A mode: its class attributes are its pure facts, its static ``plan_checks`` its own checks.
ScopeClass = type[ManagedScope] | type[GalleryScope]


def scope_class(settings: Mapping[str, Any]) -> ScopeClass:
    """Gallery mode when ``gallery`` is set, else managed images."""
    return GalleryScope if settings.get("gallery") else ManagedScope


def open_scope(settings: Mapping[str, Any], target: Target) -> Scope:
    """The scope of the catalog ``settings`` describe, bound to ``target``."""
    scope: Scope = scope_class(settings).open(settings, target)
    return scope


__all__ = ["GalleryScope", "ManagedScope", "ScopeClass", "open_scope", "scope_class"]
