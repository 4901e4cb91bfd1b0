"""Fill a connection's IdP settings from the identity provider's SAML metadata XML.

Used by the ``import_idp_metadata`` management command and the admin's "paste metadata" field.
The XML goes through the same hardened parser as SAML responses (no DTD, no entities, no
network) before python3-saml's ``OneLogin_Saml2_IdPMetadataParser`` reads the entity id, the
redirect-binding SSO and SLO URLs and every signing certificate (several during a rollover).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from .errors import SamlError
from .security import parse_hardened

if TYPE_CHECKING:
    from ..models import Connection

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"


class MetadataError(ValueError):
    """The metadata cannot be used; the message says why, for an administrator."""


@dataclass
class IdpMetadata:
    entity_id: str
    sso_url: str
    slo_url: str = ""
    certificates: list[str] = field(default_factory=list)


def parse_idp_metadata(xml: bytes | str, entity_id: str | None = None) -> IdpMetadata:
    """The IdP settings in *xml*; with several IdPs in the file, *entity_id* picks one."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    try:
        root = parse_hardened(raw, allow_comments=True)
    except SamlError as exc:
        raise MetadataError(f"The metadata is not acceptable XML: {exc.detail}.") from exc
    idps = [
        node.getparent().get("entityID", "")
        for node in root.iter(f"{{{NS_MD}}}IDPSSODescriptor")
        if node.getparent() is not None
    ]
    if not idps:
        raise MetadataError("The metadata describes no identity provider (IDPSSODescriptor).")
    if entity_id is None and len(idps) > 1:
        raise MetadataError(
            "The metadata describes several identity providers; choose one with the entity id: "
            + ", ".join(idps)
        )
    if entity_id is not None and entity_id not in idps:
        raise MetadataError(f"No identity provider with entity id {entity_id!r} in the metadata.")
    chosen = entity_id or idps[0]
    if "'" in chosen:
        raise MetadataError("Entity ids containing a quote are not supported.")
    data = OneLogin_Saml2_IdPMetadataParser.parse(
        raw.decode("utf-8"),
        entity_id=chosen,
        required_sso_binding=C.BINDING_HTTP_REDIRECT,
        required_slo_binding=C.BINDING_HTTP_REDIRECT,
    ).get("idp", {})
    sso = (data.get("singleSignOnService") or {}).get("url")
    if not sso:
        raise MetadataError("The identity provider has no HTTP-Redirect SingleSignOnService.")
    certs = list((data.get("x509certMulti") or {}).get("signing") or [])
    if not certs and data.get("x509cert"):
        certs = [data["x509cert"]]
    if not certs:
        raise MetadataError("The identity provider publishes no signing certificate.")
    return IdpMetadata(
        entity_id=chosen,
        sso_url=sso,
        slo_url=(data.get("singleLogoutService") or {}).get("url") or "",
        certificates=certs,
    )


def apply_idp_metadata(connection: Connection, metadata: IdpMetadata) -> list[str]:
    """Copy *metadata* onto *connection* (unsaved); return the names of the changed fields."""
    if connection.from_settings:
        raise MetadataError(
            f"Connection {connection.slug!r} is declared in settings; change "
            "DJANGO_PROVISIONING['CONNECTIONS'] instead."
        )
    values = {
        "idp_entity_id": metadata.entity_id,
        "idp_sso_url": metadata.sso_url,
        "idp_slo_url": metadata.slo_url,
        "idp_x509_certs": metadata.certificates,
    }
    changed = [name for name, value in values.items() if getattr(connection, name) != value]
    for name in changed:
        setattr(connection, name, values[name])
    return changed
