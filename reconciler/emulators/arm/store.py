"""The ARM emulator's resource store: a dict by lower-cased id plus a sorted id index per type.

Layer: emulator (pure data structure; no sockets, no clock). Listing a page must cost O(page size),
not a sort of every resource per page (issue 13: 78 ms a page at 50k resources, so a 50k read took
~39 s). The store keeps, per resource type, the sorted list of lower-cased ids, maintained on every
insert and delete (``bisect``: O(log n) to find, one ``memmove`` to insert); a list page is then a
binary search to the page's first id (the ``$skiptoken``'s id, or the scope's prefix) and a walk of
``page_size + 1`` ids. It is a ``MutableMapping``, so every handler that writes ``b.resources[key]``
or deletes from it keeps the index right without knowing it exists.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

Resource = dict[str, Any]


class ResourceStore(MutableMapping[str, Resource]):
    """Lower-cased id -> resource, with ids of each type (lower-cased) kept sorted."""

    def __init__(self, items: Iterable[tuple[str, Resource]] = ()) -> None:
        self._by_id: dict[str, Resource] = {}
        self._types: dict[str, str] = {}  # id -> lower-cased type it is indexed under
        self._sorted: dict[str, list[str]] = {}  # lower-cased type -> sorted ids
        for key, resource in items:
            self._by_id[key] = resource
            self._types[key] = _type_key(resource)
        for key, rtype in self._types.items():
            self._sorted.setdefault(rtype, []).append(key)
        for keys in self._sorted.values():
            keys.sort()

    # ---- MutableMapping ----------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Resource:
        return self._by_id[key]

    def __setitem__(self, key: str, resource: Resource) -> None:
        rtype = _type_key(resource)
        old = self._types.get(key)
        if old != rtype:
            if old is not None:
                self._unindex(key, old)
            insort(self._sorted.setdefault(rtype, []), key)
            self._types[key] = rtype
        self._by_id[key] = resource

    def __delitem__(self, key: str) -> None:
        del self._by_id[key]
        self._unindex(key, self._types.pop(key))

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, key: object) -> bool:
        return key in self._by_id

    def get(self, key: str, default: Resource | None = None) -> Resource | None:  # type: ignore[override]
        return self._by_id.get(key, default)  # the hot path: no MutableMapping detour

    # ---- ordered scans -----------------------------------------------------------------------------
    def scan(self, rtype: str, prefix: str, after: str | None = None) -> Iterator[Resource]:
        """Resources of ``rtype`` whose id starts with ``prefix`` (lower-case), in id order, those
        after ``after`` only (exclusive) when given. Lazy: a page reads only what it takes."""
        keys = self._sorted.get(rtype.lower())
        if not keys:
            return
        start = bisect_left(keys, prefix)
        if after is not None:
            start = max(start, bisect_right(keys, after))
        for i in range(start, len(keys)):
            key = keys[i]
            if not key.startswith(prefix):
                return
            yield self._by_id[key]

    def sorted_items(self) -> list[tuple[str, Resource]]:
        return sorted(self._by_id.items())

    def _unindex(self, key: str, rtype: str) -> None:
        keys = self._sorted[rtype]
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            del keys[i]


def _type_key(resource: Resource) -> str:
    return str(resource.get("type", "")).lower()


__all__ = ["ResourceStore"]
