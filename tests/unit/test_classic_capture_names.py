"""``azure-classic`` captures over the classic emulator: a name taken by an image of the other kind is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.emulators.classic import ClassicEmulator
from reconciler.errors import ProviderError
from reconciler.model import ImageType, OSState
from reconciler.providers.classic import ClassicProvider
from tests.unit.test_classic_provider import Clock, make, mutating, spec, state


@pytest.fixture
def em() -> Iterator[ClassicEmulator]:
    with ClassicEmulator(state()) as e:
        yield e


@pytest.fixture
def provider(em: ClassicEmulator) -> Iterator[ClassicProvider]:
    p = make(em, Clock())
    yield p
    p.close()


def test_capture_refuses_a_name_taken_by_an_image_of_the_other_kind(
    em: ClassicEmulator, provider: ClassicProvider
) -> None:
    # 'unowned-os' is an unowned OS image. A VM image of the same name would hide it (or be hidden
    # by it) in the plan, which indexes images by name; PowerShell refuses this capture too.
    with pytest.raises(ProviderError) as e:
        provider.capture(spec("Unowned-OS", "websvc/web01"))
    assert e.value.status == 409 and "unowned-os" in str(e.value)
    # ... and an OS-image capture named like an existing VM image.
    with pytest.raises(ProviderError):
        provider.capture(spec("owned-vm", "websvc/gen01", type_=ImageType.OS, os_state=OSState.GENERALIZED))
    assert mutating(em) == []
