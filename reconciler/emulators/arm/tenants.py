"""Tenants in the ARM emulator (issue 11 §1, a promotion across tenants; docs/arm-emulator.md "Tenants").

Layer: emulator. What Azure does, with evidence:

* A subscription belongs to one Entra ID tenant, and ARM takes a bearer token for it only when the
  token was issued by that tenant: otherwise 401 ``InvalidAuthenticationTokenTenant``, "The access
  token is from the wrong issuer 'https://sts.windows.net/<token's tenant>/'. It must match the
  tenant 'https://sts.windows.net/<subscription's tenant>/' associated with this subscription.
  Please use the authority (URL) 'https://login.windows.net/<tenant>' to get the token. ..."
  (Azure/pcs-cli#357, Azure/azure-sdk-for-python#38382, Azure/azure-sdk-for-net#49391).
* A request that names a resource of another tenant (a gallery version copied from another
  tenant's version, ``storageProfile.source.id``) runs under the primary token, and ARM checks
  the auxiliary tokens of ``x-ms-authorization-auxiliary`` (``Bearer <token>``, comma separated,
  up to three) for the other tenant; all must be valid and unexpired, an expired one is a 401
  (learn.microsoft.com/azure/azure-resource-manager/management/authenticate-multi-tenant).
  Without one, ARM answers 403 ``LinkedAuthorizationFailed``: "The client has permission to
  perform action 'Microsoft.Compute/galleries/images/versions/read' on scope '<target>', however
  the current tenant '<tenant>' is not authorized to access linked subscription '<subscription>'."
  (Azure/azure-cli#30976 for ``az sig image-version create --image-version <other tenant's
  version>``; MicrosoftDocs/azure-docs#68563, #114801 status 403). Some callers instead saw 401
  ``InvalidAuthenticationTokenTenant`` for the same situation (Azure/azure-libraries-for-java#993,
  a VM from another tenant's image): which one a gallery version PUT gets is not certain, so
  ``Faults.cross_tenant`` offers both: "linked" (default) or "tenant".

Emulator choices: the state's ``tenants`` section (``{"<tenant>": ["<subscription>", ...]}``) says
which subscription is in which tenant; a subscription not listed is in no particular tenant (any
token goes, as before). A token names its tenant by its JWT ``tid`` claim (as Entra ID's access
tokens do); a token that is not a JWT, or has no ``tid``, is taken for any tenant as primary (the
existing tests' ``test-token``) but is no auxiliary token for any tenant. Signatures are never
checked. The wording for an expired auxiliary token is the emulator's (the documentation gives only
the status).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .model import ArmError

#: ``Faults.cross_tenant``: how a write naming another tenant's resource without its auxiliary token is refused.
MODES = ("linked", "tenant")

_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)


def load(section: Any) -> dict[str, str]:
    """The state's ``tenants`` section as subscription (lower-case) -> tenant (lower-case)."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ValueError('tenants must be an object {"<tenant id>": ["<subscription id>", ...]}')
    out: dict[str, str] = {}
    for tenant, subs in section.items():
        if not isinstance(subs, list) or not all(isinstance(s, str) and s for s in subs):
            raise ValueError(f"tenants.{tenant}: a list of subscription ids")
        for sub in subs:
            if sub.lower() in out:
                raise ValueError(f"tenants: subscription {sub} is in two tenants")
            out[sub.lower()] = str(tenant).lower()
    return out


def dump(tenants: Mapping[str, str]) -> dict[str, Any]:
    """The ``tenants`` section of a state dump (absent when no subscription has a tenant)."""
    if not tenants:
        return {}
    grouped: dict[str, list[str]] = {}
    for sub, tenant in sorted(tenants.items()):
        grouped.setdefault(tenant, []).append(sub)
    return {"tenants": grouped}


def claims(token: str) -> dict[str, Any]:
    """The claims of a JWT (unverified); {} for any other token."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def tenant_of(token: str) -> str | None:
    tid = claims(token).get("tid")
    return tid.lower() if isinstance(tid, str) and tid else None


def _expired(token: str, now: float) -> bool:
    exp = claims(token).get("exp")
    return isinstance(exp, int | float) and not isinstance(exp, bool) and exp <= now


def _linked_ids(body: Any) -> Iterator[str]:
    """Every string in ``body`` that is a resource id (``/subscriptions/...``)."""
    if isinstance(body, Mapping):
        for value in body.values():
            yield from _linked_ids(value)
    elif isinstance(body, list):
        for value in body:
            yield from _linked_ids(value)
    elif isinstance(body, str) and _SUBSCRIPTION.match(body):
        yield body


def _wrong_issuer(have: str, home: str) -> ArmError:
    return ArmError(
        401, "InvalidAuthenticationTokenTenant",
        f"The access token is from the wrong issuer 'https://sts.windows.net/{have}/'. It must match the tenant "
        f"'https://sts.windows.net/{home}/' associated with this subscription. Please use the authority (URL) "
        f"'https://login.windows.net/{home}' to get the token. Note, if the subscription is transferred to another "
        "tenant there is no impact to the services, but information about new tenant could take time to propagate "
        "(up to an hour). If you just transferred your subscription and see this error message, please try back "
        "later.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="The access token is from '
                 'the wrong issuer."'})


def check(tenants: Mapping[str, str], method: str, path: str, headers: Mapping[str, str], raw_body: bytes,
          now: float, mode: Callable[[], str]) -> None:
    """Refuse the request as ARM would when its tokens do not fit the tenants involved (see above)."""
    if not tenants:
        return
    found = _SUBSCRIPTION.match(path)
    home = tenants.get(found.group(1).lower()) if found else None
    if home is None:
        return
    primary = (headers.get("authorization") or "").partition(" ")[2].strip()
    have = tenant_of(primary)
    if have is not None and have != home:
        raise _wrong_issuer(have, home)
    if method not in ("PUT", "PATCH", "POST") or not raw_body.strip():
        return
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        return  # the operation's own parsing answers it
    auxiliary = [t.partition(" ")[2].strip() for t in (headers.get("x-ms-authorization-auxiliary") or "").split(",")
                 if t.strip().lower().startswith("bearer ")]
    for linked in _linked_ids(body):
        sub = _SUBSCRIPTION.match(linked)
        other = tenants.get(sub.group(1).lower()) if sub else None
        if other is None or other == home:
            continue
        theirs = [t for t in auxiliary if tenant_of(t) == other]
        if theirs and any(_expired(t, now) for t in theirs):
            raise ArmError(401, "InvalidAuthenticationToken",
                           f"The auxiliary access token for tenant '{other}' in header 'x-ms-authorization-auxiliary' "
                           "has expired.", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if theirs:
            continue
        if mode() == "tenant":
            raise _wrong_issuer(have or home, other)
        raise ArmError(
            403, "LinkedAuthorizationFailed",
            "The client has permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on scope "
            f"'{path}', however the current tenant '{have or home}' is not authorized to access linked subscription "
            f"'{sub.group(1) if sub else ''}'.")


__all__ = ["MODES", "check", "claims", "dump", "load", "tenant_of"]
