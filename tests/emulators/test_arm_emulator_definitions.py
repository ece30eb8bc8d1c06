"""ARM emulator over real HTTP: gallery image definitions change only where Azure lets them (issue 10 §2).

Updatable (GalleryRP 2025-03-03 "This property is updatable", ``Update-AzGalleryImageDefinition``):
description, EULA, links, end of life, recommended, purchase plan. Fixed: identifier, generation,
architecture, OS type and state (``PropertyChangeNotAllowed``), and features unless the request sets
``allowUpdateImage`` (the spec: "Must be set to true if the gallery image features are being updated").
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from reconciler.emulators.arm import ArmEmulator
from tests.emulators.test_arm_emulator import finish
from tests.emulators.test_arm_emulator_gallery import g, make_definition

IDENT = {"publisher": "contoso", "offer": "web", "sku": "web-base"}


def patch(http: requests.Session, emu: ArmEmulator, props: dict[str, Any]) -> requests.Response:
    return http.patch(g(emu, "/images/web-base"), json={"properties": {
        "osType": "Linux", "osState": "Generalized", "identifier": IDENT, **props}})


def test_mutable_definition_properties_change_in_place(emu: ArmEmulator, http: requests.Session) -> None:
    make_definition(emu, http)
    answer = patch(http, emu, {"description": "new", "eula": "e", "releaseNoteUri": "https://n",
                               "privacyStatementUri": "https://p", "endOfLifeDate": "2028-01-01T00:00:00+00:00",
                               "recommended": {"vCPUs": {"min": 2, "max": 8}},
                               "purchasePlan": {"publisher": "p", "product": "q", "name": "n"}})
    assert answer.status_code in (200, 202), answer.text
    finish(http, answer)
    props = http.get(g(emu, "/images/web-base")).json()["properties"]
    assert (props["description"], props["recommended"], props["purchasePlan"]["name"]) == (
        "new", {"vCPUs": {"min": 2, "max": 8}}, "n")


@pytest.mark.parametrize(("props", "target"), [
    ({"hyperVGeneration": "V2"}, "properties.hyperVGeneration"),
    ({"architecture": "Arm64"}, "properties.architecture"),
    ({"identifier": {**IDENT, "sku": "other"}}, "properties.identifier.sku"),
    ({"features": [{"name": "SecurityType", "value": "TrustedLaunch"}]}, "properties.features"),
])
def test_fixed_definition_properties_are_refused(emu: ArmEmulator, http: requests.Session,
                                                 props: dict[str, Any], target: str) -> None:
    make_definition(emu, http)
    answer = patch(http, emu, props)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "PropertyChangeNotAllowed"
    assert error["message"] == f"Changing property '{target}' is not allowed."
    assert http.get(g(emu, "/images/web-base")).json()["properties"].get("features") is None


def test_features_change_with_allow_update_image_and_compare_without_order_or_case(
    emu: ArmEmulator, http: requests.Session
) -> None:
    make_definition(emu, http)
    features = [{"name": "SecurityType", "value": "TrustedLaunchSupported"},
                {"name": "IsAcceleratedNetworkSupported", "value": "true"}]
    answer = patch(http, emu, {"features": features, "allowUpdateImage": True})
    assert answer.status_code in (200, 202), answer.text
    finish(http, answer)
    props = http.get(g(emu, "/images/web-base")).json()["properties"]
    assert props["features"] == features and "allowUpdateImage" not in props
    # The same features in another order and case are no change: no allowUpdateImage needed.
    same = patch(http, emu, {"features": [{"name": "isacceleratednetworksupported", "value": "True"},
                                          {"name": "SecurityType", "value": "TrustedLaunchSupported"}]})
    assert same.status_code in (200, 202), same.text
