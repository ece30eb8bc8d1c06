"""reconciler's markers on ARM resources (tags; the table is in the package docstring) and ARM's tag
limits. Pure constants: the one list of them, re-exported by the package.
"""

from __future__ import annotations

PREFIX = "reconciler-"
TAG_OWNER = "reconciler-catalog"
TAG_PROTECT = "reconciler-protect"
TAG_FAMILY = "reconciler-family"
TAG_LABEL = "reconciler-label"
TAG_DESCRIPTION = "reconciler-description"
TAG_SIZE = "reconciler-recommended-vm-size"
TAG_TYPE = "reconciler-type"
TAG_SOURCE_VM = "reconciler-source-vm"
TAG_FIELDS = "reconciler-fields"
TAG_LOCK = "reconciler-lock"

#: ARM limits on tags (per resource; name and value length).
MAX_TAGS = 50
MAX_TAG_VALUE = 256
MAX_TAG_NAME = 512

__all__ = [
    "MAX_TAGS",
    "MAX_TAG_NAME",
    "MAX_TAG_VALUE",
    "PREFIX",
    "TAG_DESCRIPTION",
    "TAG_FAMILY",
    "TAG_FIELDS",
    "TAG_LABEL",
    "TAG_LOCK",
    "TAG_OWNER",
    "TAG_PROTECT",
    "TAG_SIZE",
    "TAG_SOURCE_VM",
    "TAG_TYPE",
]
