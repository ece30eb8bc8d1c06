"""Azure region names: the canonical name a request may send and the display name ARM answers with.

Layer: emulator. Gallery image versions name their target regions by display name whatever the
request sent (``"West US"`` for ``westus``): every GalleryRP 2025-03-03 example does, and azurerm
normalises on read (``flattenSharedImageVersionTargetRegions`` with ``location.Normalize``;
BEHAVIOURS.md row 6). The table is the public-cloud ``name`` -> ``displayName`` of
``az account list-locations`` (Microsoft.Resources ``Subscriptions_ListLocations``); a region not in
it is answered as sent.
"""

from __future__ import annotations

DISPLAY_NAMES: dict[str, str] = {
    "australiacentral": "Australia Central",
    "australiaeast": "Australia East",
    "australiasoutheast": "Australia Southeast",
    "brazilsouth": "Brazil South",
    "canadacentral": "Canada Central",
    "canadaeast": "Canada East",
    "centralindia": "Central India",
    "centralus": "Central US",
    "eastasia": "East Asia",
    "eastus": "East US",
    "eastus2": "East US 2",
    "francecentral": "France Central",
    "germanywestcentral": "Germany West Central",
    "israelcentral": "Israel Central",
    "italynorth": "Italy North",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
    "koreacentral": "Korea Central",
    "mexicocentral": "Mexico Central",
    "northcentralus": "North Central US",
    "northeurope": "North Europe",
    "norwayeast": "Norway East",
    "polandcentral": "Poland Central",
    "qatarcentral": "Qatar Central",
    "southafricanorth": "South Africa North",
    "southcentralus": "South Central US",
    "southeastasia": "Southeast Asia",
    "southindia": "South India",
    "spaincentral": "Spain Central",
    "swedencentral": "Sweden Central",
    "switzerlandnorth": "Switzerland North",
    "uaenorth": "UAE North",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "westcentralus": "West Central US",
    "westeurope": "West Europe",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
}


def canonical(name: str) -> str:
    """``West Europe`` -> ``westeurope``: how ARM compares regions (no case, no spaces)."""
    return str(name or "").replace(" ", "").lower()


def display(name: str) -> str:
    """The display name ARM answers for region ``name`` (as sent when the region is not known)."""
    return DISPLAY_NAMES.get(canonical(name), name)


__all__ = ["DISPLAY_NAMES", "canonical", "display"]
