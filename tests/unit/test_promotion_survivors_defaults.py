"""promotion.promotion_of on a spec without the reader's promotion data (a hand-made ImageSpec, a
plan from before issue 11): the defaults mutation testing found untested."""

from __future__ import annotations

import pytest

from reconciler.model import PROMOTION_EXTRA, ImageSpec, ImageType, OSState, Source
from reconciler.promotion import Promotion, promotion_of

REF = "dev:web-base/1.4.0"


def spec(extra: dict[str, object]) -> ImageSpec:
    return ImageSpec(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(image=REF), extra=extra)


@pytest.mark.parametrize("extra", [{}, {PROMOTION_EXTRA: {}}, {PROMOTION_EXTRA: None}])
def test_no_promotion_data_gives_the_ref_and_empty_defaults(extra: dict[str, object]) -> None:
    p = promotion_of(spec(extra))
    assert p == Promotion(ref=REF, alias="", image=REF, min_age="", tags={})
    assert p is not None and p.alias == "" and p.image == REF


def test_each_key_read_on_its_own() -> None:
    p = promotion_of(spec({PROMOTION_EXTRA: {"source": "dev"}}))
    assert p == Promotion(ref=REF, alias="dev", image=REF, min_age="", tags={})
    p = promotion_of(spec({PROMOTION_EXTRA: {"image": "web-base/1.4.0"}}))
    assert p == Promotion(ref=REF, alias="", image="web-base/1.4.0", min_age="", tags={})
