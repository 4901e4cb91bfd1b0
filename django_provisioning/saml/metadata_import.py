"""Fill a connection's IdP settings from the identity provider's SAML metadata XML.

Used by the ``import_idp_metadata`` management command and the admin's "paste metadata" field.
The XML goes through the same hardened parser as SAML responses (no DTD, no entities, no
network) before python3-saml's ``OneLogin_Saml2_IdPMetadataParser`` reads the entity id, the
redirect-binding SSO and SLO URLs and every signing certificate (several during a rollover).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from .errors import SamlError
from .security import parse_hardened

if TYPE_CHECKING:
    from ..models import Connection

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
_PEM_ARMOUR = re.compile(r"-----(BEGIN|END) CERTIFICATE-----")


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
    try:
        data = OneLogin_Saml2_IdPMetadataParser.parse(
            # The tree as parsed, re-serialized: whatever encoding the document declared.
            etree.tostring(root, encoding="unicode"),
            entity_id=chosen,
            required_sso_binding=C.BINDING_HTTP_REDIRECT,
            required_slo_binding=C.BINDING_HTTP_REDIRECT,
        ).get("idp", {})
    except Exception as exc:  # python3-saml on odd input (an empty certificate...): not a 500
        raise MetadataError(
            f"The metadata cannot be read: {type(exc).__name__} in the identity provider's "
            "description (an empty certificate or a missing attribute?)."
        ) from exc
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


def _certificate(cert_pem_or_b64: str) -> x509.Certificate:
    """The X.509 certificate in PEM or bare base64 (DER) text; MetadataError otherwise."""
    body = "".join(_PEM_ARMOUR.sub("", cert_pem_or_b64 or "").split())
    try:
        return x509.load_der_x509_certificate(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise MetadataError("A signing certificate is not a readable X.509 certificate.") from exc


def certificate_expiry(cert_pem_or_b64: str) -> datetime:
    """When the certificate (PEM or base64) expires, in UTC; MetadataError if unreadable."""
    return _certificate(cert_pem_or_b64).not_valid_after_utc


def certificate_label(cert_pem_or_b64: str) -> str:
    """A short name of a certificate an administrator can match with the IdP's console."""
    cert = _certificate(cert_pem_or_b64)
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    subject = str(names[0].value) if names else cert.subject.rfc4514_string() or "no subject"
    return f"{subject!r} (serial {cert.serial_number:x})"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def check_idp_metadata(
    meta: IdpMetadata, *, expected_entity_id: str | None = None, now: datetime | None = None
) -> list[str]:
    """What keeps *meta* from working, in plain words; an empty list when it is fine.

    An unreadable certificate is always a problem; one that has expired or is not valid yet
    is a problem only when no listed certificate is valid now (during a rollover an IdP
    rightly lists the next or the last one besides the current one); then each one is named
    with its dates.
    """
    now = now or datetime.now(timezone.utc)
    problems: list[str] = []
    if not meta.entity_id.strip():
        problems.append("The metadata gives no entity id for the identity provider.")
    elif expected_entity_id is not None and meta.entity_id != expected_entity_id:
        problems.append(
            f"The metadata is for the identity provider {meta.entity_id!r}, not the expected "
            f"{expected_entity_id!r}."
        )
    for label, url, required in (
        ("single sign-on", meta.sso_url, True),
        ("single logout", meta.slo_url, False),
    ):
        scheme = urlsplit(url.strip()).scheme.lower() if url.strip() else ""
        if not url.strip():
            if required:
                problems.append("The metadata gives no single sign-on URL (HTTP-Redirect).")
        elif scheme == "http":
            problems.append(
                f"The {label} URL {url} uses HTTP; it must use HTTPS, or anyone on the way "
                "could read and change the sign-in."
            )
        elif scheme != "https":
            problems.append(f"The {label} URL {url!r} is not an https:// URL.")
    if not meta.certificates:
        problems.append(
            "The metadata publishes no signing certificate, so no sign-in could be verified."
        )
        return problems
    dated: list[str] = []
    usable = False
    for cert_text in meta.certificates:
        try:
            cert = _certificate(cert_text)
        except MetadataError as exc:
            problems.append(str(exc))
            continue
        label = certificate_label(cert_text)
        if cert.not_valid_after_utc <= now:
            dated.append(
                f"The signing certificate {label} expired on {_day(cert.not_valid_after_utc)}."
            )
        elif cert.not_valid_before_utc > now:
            dated.append(
                f"The signing certificate {label} is not valid until "
                f"{_day(cert.not_valid_before_utc)}."
            )
        else:
            usable = True
    if not usable:
        problems.extend(dated)
    return problems
