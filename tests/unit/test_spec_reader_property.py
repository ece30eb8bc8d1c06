"""The hand-rolled YAML reader (event stream -> data + positions) agrees with PyYAML's safe loader.

Property: for any document of mappings, lists and scalars that PyYAML can dump, ``reader.read_document`` gives
the same data as ``yaml.safe_load`` (timestamps kept as strings, the one intended difference), in
both block and flow style, with the C and the pure-Python parser.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.spec import reader


class _NoTimestamps(yaml.SafeLoader):
    """PyYAML's safe loader with timestamps left as strings, as the reconciler reads them."""


_NoTimestamps.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"), min_size=1, max_size=12
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"), max_size=20)
    | st.sampled_from(["2026-11-26", "1.10", "yes", "no", "on", "~", "null", "0x1F", "1e3", "-", "- a", ": b"])
)
documents = st.dictionaries(
    keys,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.booleans())
def test_reader_agrees_with_pyyaml(document, flow):
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    doc, diags = reader.read_document(text.encode("utf-8"), "p.yaml")
    assert [d for d in diags if d.severity.value == "error"] == []
    assert doc is not None
    assert doc.data == yaml.load(text, Loader=_NoTimestamps)
