"""Build python3-saml's settings and request dicts from a connection and a Django request.

Both functions are pure: they read the connection, the ``DJANGO_PROVISIONING`` settings and the
request, and return plain dicts. Hosts and schemes come from ``request.get_host()`` and
``request.is_secure()``, so a site behind a proxy that sets ``USE_X_FORWARDED_HOST`` and
``SECURE_PROXY_SSL_HEADER`` gets URLs (entity id, ACS, Destination checks) with its public host.

Out of scope here: validation. python3-saml checks the settings when
``OneLogin_Saml2_Settings`` is built; :mod:`.validation` does the rest.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

from ..conf import provisioning_settings

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..models import Connection

URL_NAMESPACE = "django_provisioning_saml"

_PEM_ARMOUR = re.compile(r"-----(BEGIN|END)[A-Z0-9 ]*-----")


def saml_url(request: HttpRequest, name: str, connection: Connection) -> str:
    """The absolute URL of one of this connection's SAML endpoints, on the request's host."""
    return request.build_absolute_uri(reverse(f"{URL_NAMESPACE}:{name}", args=[connection.slug]))


def request_data(request: HttpRequest) -> dict[str, Any]:
    """python3-saml's request dict.

    ``http_host`` carries the port when it is not the default one, so the deprecated
    ``server_port`` key is not set. ``script_name`` is the full path (script prefix included).
    Redirect-binding signatures are checked over the raw query string, whatever URL encoding
    the identity provider used.
    """
    return {
        "https": "on" if request.is_secure() else "off",
        "http_host": request.get_host(),
        "script_name": request.path,
        "get_data": request.GET.dict(),
        "post_data": request.POST.dict() if request.method == "POST" else {},
        "query_string": request.META.get("QUERY_STRING", ""),
        "validate_signature_from_qs": True,
    }


def read_pem(value: str) -> str:
    """*value* itself when it is PEM text, else the content of the file it names."""
    value = (value or "").strip()
    if value and "-----BEGIN" not in value and os.path.isfile(value):
        with open(value, encoding="ascii") as handle:
            return handle.read().strip()
    return value


def cert_body(cert: str) -> str:
    """The base64 body of a PEM certificate (armour and whitespace removed)."""
    return "".join(_PEM_ARMOUR.sub("", cert or "").split())


def sp_key_pair(connection: Connection) -> tuple[str, str]:
    """(certificate, private key) of the SP: the connection's own, else the settings' pair."""
    if connection.sp_certificate.strip() and connection.sp_private_key.strip():
        if connection.from_settings:
            return read_pem(connection.sp_certificate), read_pem(connection.sp_private_key)
        # Values typed into the admin are PEM text only: reading them as file paths would let
        # a staff user publish any file on the server through the metadata URL.
        return connection.sp_certificate.strip(), connection.sp_private_key.strip()
    return (
        read_pem(provisioning_settings.SAML_SP_CERTIFICATE),
        read_pem(provisioning_settings.SAML_SP_PRIVATE_KEY),
    )


def sp_entity_id(connection: Connection, request: HttpRequest) -> str:
    """``SAML_SP_ENTITY_ID`` (``{slug}`` is replaced), else the connection's metadata URL."""
    configured = provisioning_settings.SAML_SP_ENTITY_ID
    if configured:
        return str(configured).replace("{slug}", connection.slug)
    return saml_url(request, "metadata", connection)


def idp_certificates(connection: Connection) -> list[str]:
    """The IdP signing certificates as base64 bodies, duplicates and blanks removed."""
    seen: list[str] = []
    for cert in connection.idp_x509_certs or []:
        body = cert_body(str(cert))
        if body and body not in seen:
            seen.append(body)
    return seen


def build_saml_settings(
    connection: Connection, request: HttpRequest, *, logout: bool = False
) -> dict[str, Any]:
    """python3-saml's settings dict for *connection*, with URLs on *request*'s public host.

    Strict mode, signed assertions (unless the connection turns it off), SHA-1 refused, a
    NameID required, repeated attribute names allowed (some IdPs send one value per element),
    every configured IdP certificate accepted (``x509certMulti``, for rollovers).

    *logout*: the settings of single logout, where the IdP's LogoutRequests and
    LogoutResponses must be signed (``wantMessagesSigned``) whatever the connection says:
    an unsigned LogoutRequest would let any site log the user out (logout CSRF). Verifying
    needs only the IdP certificate, so this holds when the SP has no key of its own.
    """
    sp_cert, sp_key = sp_key_pair(connection)
    sp: dict[str, Any] = {
        "entityId": sp_entity_id(connection, request),
        "assertionConsumerService": {
            "url": saml_url(request, "acs", connection),
            "binding": C.BINDING_HTTP_POST,
        },
        "singleLogoutService": {
            "url": saml_url(request, "slo", connection),
            "binding": C.BINDING_HTTP_REDIRECT,
        },
        "NameIDFormat": connection.name_id_format,
        "x509cert": sp_cert,
        "privateKey": sp_key,
    }
    certs = idp_certificates(connection)
    idp: dict[str, Any] = {
        "entityId": connection.idp_entity_id,
        "singleSignOnService": {"url": connection.idp_sso_url, "binding": C.BINDING_HTTP_REDIRECT},
        "x509cert": certs[0] if certs else "",
    }
    if certs:
        idp["x509certMulti"] = {"signing": list(certs)}
    if connection.idp_slo_url:
        idp["singleLogoutService"] = {
            "url": connection.idp_slo_url,
            "binding": C.BINDING_HTTP_REDIRECT,
        }
    can_sign = bool(sp_cert and sp_key)
    security = {
        "nameIdEncrypted": False,
        "authnRequestsSigned": connection.sign_authn_requests,
        "logoutRequestSigned": can_sign,
        "logoutResponseSigned": can_sign,
        "signMetadata": False,
        "wantMessagesSigned": True if logout else connection.want_messages_signed,
        "wantAssertionsSigned": connection.want_assertions_signed,
        "wantAssertionsEncrypted": connection.want_assertions_encrypted,
        "wantNameId": True,
        "wantNameIdEncrypted": False,
        "wantAttributeStatement": False,
        "requestedAuthnContext": False,
        "failOnAuthnContextMismatch": False,
        "rejectDeprecatedAlgorithm": True,
        "allowRepeatAttributeName": True,
        "allowSingleLabelDomains": True,
        "signatureAlgorithm": C.RSA_SHA256,
        "digestAlgorithm": C.SHA256,
    }
    return {"strict": True, "debug": False, "sp": sp, "idp": idp, "security": security}
