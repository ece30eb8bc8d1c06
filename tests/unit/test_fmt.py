"""``reconciler.fmt``: canonical form, comments kept, meaning unchanged, idempotent (issue 12)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from reconciler.fmt import IMAGE_ORDER, TOP_ORDER, format_yaml

ROOT = Path(__file__).resolve().parents[2]
VALID = sorted((ROOT / "tests" / "fixtures" / "specs" / "valid").glob("*.yaml")) + [ROOT / "images.yaml.example"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_formatting_keeps_the_data_and_every_comment_and_is_idempotent(path: Path) -> None:
    text = path.read_text("utf-8")
    once = format_yaml(text)
    assert yaml.safe_load(once) == yaml.safe_load(text)
    assert format_yaml(once) == once
    comments = sorted(line.strip() for line in text.splitlines() if line.strip().startswith("#"))
    kept = sorted(line.strip() for line in once.splitlines() if line.strip().startswith("#"))
    assert kept == comments


def _shuffled(text: str, seed: int) -> str:
    """The example with every mapping's keys in a random order (a block, comments above, kept together)."""
    from ruamel.yaml import YAML  # noqa: F401 - the formatter's own dependency must be there

    data = yaml.safe_load(text)
    rng = random.Random(seed)

    def shuffle(x):
        if isinstance(x, dict):
            items = list(x.items())
            rng.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(x, list):
            return [shuffle(v) for v in x]
        return x

    return yaml.safe_dump(shuffle(data), sort_keys=False, indent=4)


@pytest.mark.parametrize("seed", range(5))
def test_any_key_order_comes_out_canonical(seed: int) -> None:
    text = _shuffled((ROOT / "images.yaml.example").read_text("utf-8"), seed)
    out = yaml.safe_load(format_yaml(text))
    assert list(out) == [k for k in TOP_ORDER if k in out]
    for image in out["images"]:
        known = [k for k in image if k in IMAGE_ORDER]
        assert known == sorted(known, key=IMAGE_ORDER.index)
        assert list(image["source"])[0] in ("vm", "vhd")
    assert list(out["catalog"])[:2] == ["name", "provider"]
    assert format_yaml(text).splitlines()[0] == "version: 1"
