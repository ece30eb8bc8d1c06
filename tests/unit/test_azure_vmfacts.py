"""The pure functions of ``providers/azure/vmfacts.py``: facts from ARM JSON, and the checks Azure makes.

Gen1/Gen2 x Standard/TrustedLaunch/ConfidentialVM x x64/Arm64 sources against definitions; the
managed-image refusal; how a definition without the newer attributes is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.errors import Severity
from reconciler.providers.azure.mapping import vm_from_resource
from reconciler.providers.azure.vmfacts import (
    VmFacts,
    architecture_of,
    check_source_against_definition,
    facts_from_resource,
    managed_image_refusal,
)


@dataclass(frozen=True)
class Definition:
    name: str = "web"
    hyper_v_generation: str | None = "V2"
    security_type: str | None = "TrustedLaunch"
    architecture: str | None = "x64"


@dataclass(frozen=True)
class OldDefinition:
    """A definition type from before security type and architecture were read."""

    name: str = "web"
    hyper_v_generation: str = "V1"


@pytest.mark.parametrize(("size", "ref", "arch"), [
    ("Standard_D2ps_v5", None, "Arm64"),
    ("Standard_B2pts_v2", None, "Arm64"),
    ("Standard_E4pds_v5", None, "Arm64"),
    ("Standard_D2s_v5", None, "x64"),
    ("Standard_DC2as_v5", None, "x64"),
    ("Standard_NC24ads_A100_v4", None, "x64"),
    ("Standard_M416-208ms_v2", None, "x64"),
    ("Standard_D2s_v5", {"sku": "22_04-lts-arm64"}, "x64"),  # the size wins: it says x64
    (None, {"sku": "22_04-lts-arm64"}, "Arm64"),
    ("", {"sku": "22_04-lts-gen2"}, "x64"),
    (None, None, "x64"),
])
def test_architecture_from_the_size_name_then_the_image_reference(size: Any, ref: Any, arch: str) -> None:
    assert architecture_of(size, ref) == arch


def _vm(**props: Any) -> dict[str, Any]:
    return {"name": "v", "properties": {"storageProfile": {"osDisk": {"osType": "Linux"}}, **props}}


def test_facts_defaults_when_azure_says_nothing() -> None:
    assert facts_from_resource(_vm(), {}) == VmFacts(None, "Standard", "x64", "SCSI", ())


def test_facts_from_every_place_azure_keeps_them() -> None:
    res = _vm(hardwareProfile={"vmSize": "Standard_D4ps_v5"},
              securityProfile={"securityType": "trustedlaunch"},
              storageProfile={"osDisk": {"osType": "Linux"}, "diskControllerType": "nvme",
                              "dataDisks": [{"lun": 3}, {"lun": 1}]},
              instanceView={"hyperVGeneration": "v2"})
    assert facts_from_resource(res, None) == VmFacts("V2", "TrustedLaunch", "Arm64", "NVMe", (1, 3))
    # An instance view given apart wins over the embedded one.
    assert facts_from_resource(res, {"hyperVGeneration": "V1"}).hyper_v_generation == "V1"
    cvm = _vm(securityProfile={"securityType": "ConfidentialVM"})
    assert facts_from_resource(cvm, {}).security_type == "ConfidentialVM"
    odd = _vm(securityProfile={"securityType": "SomethingNew"})
    assert facts_from_resource(odd, {}).security_type == "SomethingNew"


def test_vm_from_resource_carries_the_facts() -> None:
    vm = vm_from_resource(_vm(securityProfile={"securityType": "TrustedLaunch"}), {"hyperVGeneration": "V2"})
    assert vm.facts == VmFacts("V2", "TrustedLaunch", "x64", "SCSI", ())
    assert vm.facts.document_fields() == {"hyper_v_generation": "V2", "security_type": "TrustedLaunch",
                                          "architecture": "x64", "disk_controller": "SCSI", "data_disk_luns": []}


GEN1 = VmFacts("V1")
GEN2 = VmFacts("V2")
GEN2_TL = VmFacts("V2", "TrustedLaunch")
GEN2_CVM = VmFacts("V2", "ConfidentialVM")
GEN2_TL_ARM = VmFacts("V2", "TrustedLaunch", "Arm64")


@pytest.mark.parametrize(("facts", "definition", "codes"), [
    (GEN1, Definition(hyper_v_generation=None, security_type=None, architecture=None), []),
    (GEN1, Definition(hyper_v_generation="V1", security_type="Standard"), []),
    (GEN2, Definition(security_type=None), []),
    (GEN2_TL, Definition(), []),
    (GEN2_CVM, Definition(security_type="ConfidentialVM"), []),
    (GEN2_TL_ARM, Definition(architecture="Arm64"), []),
    (GEN2, Definition(hyper_v_generation=None, security_type=None), ["azure-gallery-generation"]),
    (GEN1, Definition(security_type=None), ["azure-gallery-generation"]),
    (GEN2_TL, Definition(security_type=None), ["azure-gallery-security-type"]),
    (GEN2, Definition(), ["azure-gallery-security-type"]),
    (GEN2_TL, Definition(security_type="TrustedLaunchSupported"), ["azure-gallery-security-type"]),
    (GEN2, Definition(security_type="TrustedLaunchAndConfidentialVmSupported"), ["azure-gallery-security-type"]),
    (GEN2_CVM, Definition(), ["azure-gallery-security-type"]),
    (GEN2_TL_ARM, Definition(), ["azure-gallery-architecture"]),
    (GEN2_TL, Definition(architecture="Arm64"), ["azure-gallery-architecture"]),
    (GEN2_TL, Definition(hyper_v_generation="V1", security_type=None, architecture="arm64"),
     ["azure-gallery-generation", "azure-gallery-security-type", "azure-gallery-architecture"]),
    (VmFacts(None, "Standard"), Definition(security_type=None), []),  # generation unknown: not judged
])
def test_source_against_definition(facts: VmFacts, definition: Definition, codes: list[str]) -> None:
    found = check_source_against_definition(facts, definition, vm="build", image="web/1.0.0")
    assert [d.code for d in found] == codes
    assert all(d.severity is Severity.ERROR for d in found)


def test_messages_name_both_values_and_the_fix() -> None:
    gen, = check_source_against_definition(GEN2, Definition(hyper_v_generation="V1", security_type=None),
                                           vm="build", image="web/1.0.0")
    assert gen.summary.startswith("source VM 'build' of 'web/1.0.0' is Hyper-V generation V2, but gallery "
                                  "definition 'web' is V1")
    assert "Conflict" in gen.summary
    assert gen.hint == ("capture into a definition with hyper_v_generation: V2 (a definition's generation cannot "
                        "change), or from a V1 VM")
    sec, = check_source_against_definition(GEN2_TL, Definition(security_type=None), vm="build", image="web/1.0.0")
    assert sec.summary == ("source VM 'build' of 'web/1.0.0' is TrustedLaunch, but gallery definition 'web' has "
                           "security type Standard (a TrustedLaunch VM needs a definition with SecurityType "
                           "TrustedLaunch)")
    assert sec.hint == ("capture into a definition with security_type: TrustedLaunch "
                        "(feature SecurityType=TrustedLaunch)")
    std, = check_source_against_definition(GEN2, Definition(), vm="build", image="web/1.0.0")
    assert "a Standard VM cannot be captured into a definition with security features" in std.summary
    assert std.hint == "capture into a definition without security features (security_type: Standard)"
    tls, = check_source_against_definition(GEN2_TL, Definition(name="", security_type="TrustedLaunchSupported"))
    assert tls.summary.startswith("the source VM of the image is TrustedLaunch, but the gallery definition")
    assert "InvalidParameter" in tls.summary and "TrustedLaunchSupported" in tls.summary
    arch, = check_source_against_definition(GEN2_TL_ARM, Definition(), vm="build", image="web/1.0.0")
    assert arch.summary == "source VM 'build' of 'web/1.0.0' is Arm64, but gallery definition 'web' holds x64 images"
    assert arch.hint == "capture into a definition with architecture: Arm64, or from a x64 VM"


def test_a_definition_without_the_newer_attributes_is_judged_on_generation_only() -> None:
    assert check_source_against_definition(GEN2_TL_ARM, OldDefinition(hyper_v_generation="V2")) == []
    assert [d.code for d in check_source_against_definition(GEN2_TL, OldDefinition())] == [
        "azure-gallery-generation"]


def test_managed_images_refuse_trusted_launch_and_confidential_vms() -> None:
    assert managed_image_refusal(GEN2) is None and managed_image_refusal(GEN1) is None
    tl = managed_image_refusal(GEN2_TL, vm="build", image="img")
    assert tl is not None and tl.code == "azure-managed-security-type" and tl.severity is Severity.ERROR
    assert tl.summary == ("cannot capture managed image 'img': source VM 'build' is TrustedLaunch, and Azure does "
                          "not create managed images from TrustedLaunch VMs (OperationNotAllowed)")
    assert "catalog.gallery" in tl.hint and tl.hint.endswith("security_type: TrustedLaunch")
    cvm = managed_image_refusal(GEN2_CVM)
    assert cvm is not None and cvm.summary.startswith("cannot capture a managed image: the source VM is ConfidentialVM")
