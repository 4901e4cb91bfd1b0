"""pysaml2 (IdentityPython's ``saml2.server.Server``) as an identity provider, for interop.

The SAML tests run against the pure-Python test IdP in :mod:`tests.saml.idp`; this peer is a
second, widely deployed implementation that ``tests/saml/test_interop_pysaml2.py`` signs in and
logs out against. It signs through Debian's ``xmlsec1`` program: without it the interop tests
skip with the ``apt-get`` line (and fail under CI, ``tests/tools.py``). Same method names as
:class:`tests.saml.idp.TestIdP`, so :class:`tests.saml.conftest.Browser` drives either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from saml2 import BINDING_HTTP_REDIRECT, xmldsig
from saml2.config import IdPConfig
from saml2.saml import (
    NAME_FORMAT_URI,
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
    NAMEID_FORMAT_UNSPECIFIED,
    NameID,
)
from saml2.server import Server

from tests.tools import require

from .idp import IDP_ENTITY_ID, IDP_SLO_URL, IDP_SSO_URL

KEYS = Path(__file__).resolve().parent.parent / "keys"
FORMATS = {
    "email": NAMEID_FORMAT_EMAILADDRESS,
    "persistent": NAMEID_FORMAT_PERSISTENT,
    "transient": NAMEID_FORMAT_TRANSIENT,
    "unspecified": NAMEID_FORMAT_UNSPECIFIED,
}


class Pysaml2IdP:
    """pysaml2 acting as the customer's identity provider."""

    def __init__(
        self, sp_metadata: str, *, key: str = "idp", sha1: bool = False, sso_url: str = IDP_SSO_URL
    ) -> None:
        config = IdPConfig()
        config.load(
            {
                "entityid": IDP_ENTITY_ID,
                "xmlsec_binary": require("xmlsec1", "xmlsec1"),
                "key_file": str(KEYS / f"{key}.key"),
                "cert_file": str(KEYS / f"{key}.crt"),
                "metadata": {"inline": [sp_metadata]},
                "allow_unknown_attributes": True,
                # No attribute converters: send attribute names exactly as given (Okta, Entra
                # and the others each use their own names; pysaml2 would rename them to OIDs).
                "attribute_map_dir": str(Path(__file__).resolve().parent / "attributemaps"),
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)],
                            "single_logout_service": [(IDP_SLO_URL, BINDING_HTTP_REDIRECT)],
                        },
                        "name_id_format": list(FORMATS.values()),
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_URI,
                            }
                        },
                    }
                },
            }
        )
        self.server = Server(config=config)
        self.sign_alg = xmldsig.SIG_RSA_SHA1 if sha1 else xmldsig.SIG_RSA_SHA256
        self.digest_alg = xmldsig.DIGEST_SHA1 if sha1 else xmldsig.DIGEST_SHA256

    # ------------------------------------------------------------------ SSO

    def parse_login_redirect(self, location: str) -> tuple[Any, str]:
        """(the parsed AuthnRequest, RelayState) of our redirect to the IdP's SSO URL."""
        query = parse_qs(urlparse(location).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return request.message, query.get("RelayState", [""])[0]

    def response_xml(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        in_response_to: str | None,
        name_id: str = "alice@example.com",
        name_id_format: str = "email",
        attributes: dict[str, Any] | None = None,
        sign_response: bool = False,
        sign_assertion: bool = True,
        **extra: Any,
    ) -> bytes:
        """A signed AuthnResponse (XML bytes) for the given SP and request id."""
        attrs = (
            attributes
            if attributes is not None
            else {"email": ["alice@example.com"], "firstName": ["Alice"], "lastName": ["Liddell"]}
        )
        response = self.server.create_authn_response(
            identity=attrs,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            name_id=NameID(format=FORMATS.get(name_id_format, name_id_format), text=name_id),
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                "authn_auth": IDP_ENTITY_ID,
            },
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            sign_alg=self.sign_alg,
            digest_alg=self.digest_alg,
            **extra,
        )
        xml = str(response)
        return xml.encode("utf-8")

    # ------------------------------------------------------------------ SLO

    def logout_request(
        self,
        sp_slo_url: str,
        sp_entity_id: str,
        name_id: str,
        name_id_format: str = "email",
        *,
        sign: bool = True,
    ) -> tuple[str, str]:
        """(id, URL) of a redirect-binding LogoutRequest to our SLO endpoint, signed by default."""
        request_id, request = self.server.create_logout_request(
            sp_slo_url,
            sp_entity_id,
            name_id=NameID(format=FORMATS[name_id_format], text=name_id),
            sign=False,
        )
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            sp_slo_url,
            relay_state="rs-42",
            sign=sign,
            sigalg=xmldsig.SIG_RSA_SHA256 if sign else None,
        )
        return request_id, dict(info["headers"])["Location"]

    def logout_request_url(self, *args: Any, **kwargs: Any) -> str:
        return self.logout_request(*args, **kwargs)[1]

    def parse_logout_response(self, location: str) -> Any:
        """Our LogoutResponse to a LogoutRequest of this IdP, as pysaml2 reads it."""
        query = parse_qs(urlparse(location).query)
        parsed = self.server.parse_logout_request_response(
            query["SAMLResponse"][0], BINDING_HTTP_REDIRECT
        )
        return parsed.response

    def parse_logout_request(self, location: str) -> Any:
        query = parse_qs(urlparse(location).query)
        parsed = self.server.parse_logout_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return parsed.message

    def logout_response_url(self, request: Any, sp_slo_url: str, *, sign: bool = True) -> str:
        """A redirect-binding LogoutResponse (Success) to our SLO endpoint (signed by default)."""
        response = self.server.create_logout_response(
            request, [BINDING_HTTP_REDIRECT], status=None, sign=False
        )
        response.destination = sp_slo_url
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            sp_slo_url,
            response=True,
            sign=sign,
            sigalg=xmldsig.SIG_RSA_SHA256 if sign else None,
        )
        return dict(info["headers"])["Location"]
