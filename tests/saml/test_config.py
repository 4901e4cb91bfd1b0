"""The pure settings builder and request dict for python3-saml."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from django_provisioning.models import Connection
from django_provisioning.saml.config import build_saml_settings, cert_body, request_data

from .idp import IDP_ENTITY_ID, IDP_SLO_URL, IDP_SSO_URL, KEYS, pem


def make_connection(**kwargs: Any) -> Connection:
    values: dict[str, Any] = {
        "slug": "acme",
        "name": "Acme",
        "idp_entity_id": IDP_ENTITY_ID,
        "idp_sso_url": IDP_SSO_URL,
        "idp_x509_certs": [pem("idp.crt"), pem("idp2.crt")],
    }
    values.update(kwargs)
    return Connection(**values)  # unsaved: the builder needs no database


@pytest.fixture(autouse=True)
def _no_db_settings(settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {}


def test_secure_defaults() -> None:
    request = RequestFactory().get("/sso/acme/login/")
    built = build_saml_settings(make_connection(), request)

    assert built["strict"] is True
    security = built["security"]
    assert security["wantAssertionsSigned"] is True
    assert security["rejectDeprecatedAlgorithm"] is True
    assert security["wantNameId"] is True
    assert security["allowRepeatAttributeName"] is True
    assert security["requestedAuthnContext"] is False
    assert security["signatureAlgorithm"].endswith("rsa-sha256")
    assert built["sp"]["entityId"] == "http://testserver/sso/acme/metadata/"
    assert built["sp"]["assertionConsumerService"]["url"] == "http://testserver/sso/acme/acs/"
    assert built["idp"]["x509certMulti"]["signing"] == [
        cert_body(pem("idp.crt")),
        cert_body(pem("idp2.crt")),
    ]
    assert "singleLogoutService" not in built["idp"]
    OneLogin_Saml2_Settings(built)  # python3-saml accepts it


def test_connection_options_are_honoured() -> None:
    connection = make_connection(
        want_assertions_signed=False,
        want_messages_signed=True,
        want_assertions_encrypted=True,
        sign_authn_requests=True,
        sp_certificate=pem("sp.crt"),
        sp_private_key=pem("sp.key"),
        idp_slo_url=IDP_SLO_URL,
        name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    )
    built = build_saml_settings(connection, RequestFactory().get("/"))
    assert built["security"]["wantAssertionsSigned"] is False
    assert built["security"]["wantMessagesSigned"] is True
    assert built["security"]["wantAssertionsEncrypted"] is True
    assert built["security"]["authnRequestsSigned"] is True
    assert built["security"]["logoutRequestSigned"] is True
    assert built["sp"]["NameIDFormat"].endswith("persistent")
    assert built["sp"]["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
    assert built["idp"]["singleLogoutService"]["url"] == IDP_SLO_URL
    OneLogin_Saml2_Settings(built)


def test_settings_key_pair_as_paths_or_pem(settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {
        "SAML_SP_CERTIFICATE": str(KEYS / "sp.crt"),
        "SAML_SP_PRIVATE_KEY": pem("sp.key"),
    }
    built = build_saml_settings(make_connection(), RequestFactory().get("/"))
    assert built["sp"]["x509cert"] == pem("sp.crt").strip()
    assert built["sp"]["privateKey"] == pem("sp.key").strip()


def test_connection_key_pair_wins_over_settings(settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {
        "SAML_SP_CERTIFICATE": pem("foreign.crt"),
        "SAML_SP_PRIVATE_KEY": pem("foreign.key"),
    }
    connection = make_connection(sp_certificate=pem("sp.crt"), sp_private_key=pem("sp.key"))
    built = build_saml_settings(connection, RequestFactory().get("/"))
    assert built["sp"]["x509cert"] == pem("sp.crt").strip()


def test_behind_a_proxy(settings: Any) -> None:
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = RequestFactory().post(
        "/sso/acme/acs/",
        {"SAMLResponse": "x"},
        HTTP_X_FORWARDED_HOST="sp.example.com:8443",
        HTTP_X_FORWARDED_PROTO="https",
    )
    settings.ALLOWED_HOSTS = ["sp.example.com"]
    built = build_saml_settings(make_connection(), request)
    assert built["sp"]["entityId"] == "https://sp.example.com:8443/sso/acme/metadata/"
    data = request_data(request)
    assert data["https"] == "on"
    assert data["http_host"] == "sp.example.com:8443"
    assert data["script_name"] == "/sso/acme/acs/"
    assert data["post_data"] == {"SAMLResponse": "x"}
    assert "server_port" not in data  # http_host carries the port


def test_entity_id_setting_with_slug(settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {"SAML_SP_ENTITY_ID": "urn:example:sp:{slug}"}
    built = build_saml_settings(make_connection(), RequestFactory().get("/"))
    assert built["sp"]["entityId"] == "urn:example:sp:acme"


def test_cert_body_accepts_pem_and_base64() -> None:
    body = cert_body(pem("idp.crt"))
    assert "BEGIN" not in body and "\n" not in body
    assert cert_body(body) == body
