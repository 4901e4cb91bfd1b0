"""Who the development IdP can sign in: a few people of each demo organization, and groups.

The organizations are the example's (``demo``: example.com, ``globex``: globex.example); the
IdP has an entity id, SSO and SLO URL of its own for each, as each customer would have its own
identity provider. :func:`idp_options` is what registers it on a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Person:
    email: str
    first_name: str
    last_name: str
    groups: tuple[str, ...]


#: The groups the IdP can send (the ``groups`` attribute); each connection maps them all onto
#: groups of its own (``group_mapping``), named "<connection slug>: <group>".
GROUPS = ("Engineering", "Sales", "Admins")

DIRECTORY: dict[str, tuple[Person, ...]] = {
    "demo": (
        Person("alice@example.com", "Alice", "Liddell", ("Engineering",)),
        Person("bob@example.com", "Bob", "Builder", ("Sales",)),
    ),
    "globex": (
        Person("carol@globex.example", "Carol", "Danvers", ("Engineering", "Admins")),
        Person("dan@globex.example", "Dan", "Brown", ()),
    ),
}


def idp_urls(origin: str, slug: str) -> dict[str, str]:
    """The entity id, SSO and SLO URLs of organization *slug*'s IdP at *origin*."""
    base = f"{origin.rstrip('/')}/devidp/{slug}"
    return {
        "idp_entity_id": f"{base}/metadata/",
        "idp_sso_url": f"{base}/sso/",
        "idp_slo_url": f"{base}/slo/",
    }


def idp_options(origin: str, slug: str, cert_pem: str) -> dict[str, Any]:
    """The connection options that register this IdP for organization *slug*."""
    return {
        **idp_urls(origin, slug),
        "idp_x509_certs": [cert_pem],
        "groups_attribute": "groups",
        "group_mapping": dict.fromkeys(GROUPS),
    }
