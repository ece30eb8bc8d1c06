"""The desired-state file: YAML bytes -> validated ``DesiredState``, and back (``dump_spec``).

Layer: pure core, except ``load_spec`` (reads a file). Imports ``yaml``, ``jsonschema`` and
``jsonschema_rs``; never ``requests`` or ``typer``; never prints, reads the environment or exits.

One module per step, in the order a file goes through them (``check`` runs them):

* ``reader``: bytes -> plain data plus positions (YAML events; refuses aliases and duplicate keys);
* ``positions``: path -> ``file:line:col``, and the one ``json_path`` (shared with ``seed``);
* ``schema``: the JSON Schema, jsonschema-rs as the pre-check, jsonschema for the messages;
* ``messages``: a ``ValidationError`` in the user's words, with a hint (shared with ``seed``);
* ``env``: the provider and its settings, environment defaults coerced to the schema's types;
* ``semantics``: what the schema cannot express (names, os_state, provider support, characters);
* ``build``: the ``DesiredState``, and ``dump_spec`` for ``export``.
"""

from __future__ import annotations

from .build import dump_spec
from .check import check_spec, count_images, load_spec, parse_spec
from .positions import json_path
from .reader import ALIASES_REFUSED, MAX_DEPTH
from .schema import load_schema

__all__ = [
    "ALIASES_REFUSED",
    "MAX_DEPTH",
    "check_spec",
    "count_images",
    "dump_spec",
    "json_path",
    "load_schema",
    "load_spec",
    "parse_spec",
]
