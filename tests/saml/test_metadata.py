"""SP metadata: valid against the SAML metadata schema, certificates when configured."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from django_provisioning.models import Connection

from .conftest import ACS_URL, SLO_URL, SP_ENTITY_ID
from .idp import pem

pytestmark = pytest.mark.django_db
MD = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def get_metadata(slug: str = "acme") -> etree._Element:
    response = Client().get(f"/sso/{slug}/metadata/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    schema_errors = OneLogin_Saml2_XML.validate_xml(
        response.content, "saml-schema-metadata-2.0.xsd"
    )
    assert not isinstance(schema_errors, str), schema_errors
    return etree.fromstring(response.content)


def test_metadata_without_certificates(saml_connection: Connection) -> None:
    root = get_metadata()
    assert root.get("entityID") == SP_ENTITY_ID
    sp = root.find("md:SPSSODescriptor", MD)
    assert sp.get("WantAssertionsSigned") == "true"
    assert sp.get("AuthnRequestsSigned") == "false"
    acs = sp.find("md:AssertionConsumerService", MD)
    assert acs.get("Location") == ACS_URL
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    slo = sp.find("md:SingleLogoutService", MD)
    assert slo.get("Location") == SLO_URL
    assert sp.find("md:NameIDFormat", MD).text == saml_connection.name_id_format
    assert sp.find("md:KeyDescriptor", MD) is None


def test_metadata_with_signing_and_encryption_certificates(saml_connection: Connection) -> None:
    saml_connection.sp_certificate = pem("sp.crt")
    saml_connection.sp_private_key = pem("sp.key")
    saml_connection.want_assertions_encrypted = True
    saml_connection.sign_authn_requests = True
    saml_connection.save()
    root = get_metadata()
    uses = sorted(k.get("use") for k in root.iterfind(".//md:KeyDescriptor", MD))
    assert uses == ["encryption", "signing"]
    assert root.find("md:SPSSODescriptor", MD).get("AuthnRequestsSigned") == "true"


def test_metadata_with_settings_key_pair_from_files(
    saml_connection: Connection, settings: Any
) -> None:
    from .idp import KEYS

    settings.DJANGO_PROVISIONING = {
        "SAML_SP_CERTIFICATE": str(KEYS / "sp.crt"),
        "SAML_SP_PRIVATE_KEY": str(KEYS / "sp.key"),
    }
    root = get_metadata()
    cert = root.find(".//md:KeyDescriptor[@use='signing']//ds:X509Certificate", MD)
    assert "".join(cert.text.split()) in "".join(pem("sp.crt").split())


def test_metadata_entity_id_setting(saml_connection: Connection, settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {"SAML_SP_ENTITY_ID": "https://app.example.com/saml/{slug}"}
    assert get_metadata().get("entityID") == "https://app.example.com/saml/acme"


def test_metadata_of_a_connection_without_idp(db: Any) -> None:
    Connection.objects.create(slug="fresh", name="Fresh")
    assert get_metadata("fresh").get("entityID") == "http://testserver/sso/fresh/metadata/"


def test_database_connection_cannot_publish_server_files(
    saml_connection: Connection, tmp_path: Any
) -> None:
    """Attack: a staff user types a file path into the SP key fields of a connection."""
    secret = tmp_path / "secret.pem"
    secret.write_text("TOP-SECRET-CONTENT")
    saml_connection.sp_certificate = str(secret)
    saml_connection.sp_private_key = str(secret)
    saml_connection.save()
    response = Client().get("/sso/acme/metadata/")
    assert b"TOP-SECRET-CONTENT" not in response.content
    assert b"VE9QLVNFQ1JFVC1DT05URU5U" not in response.content  # nor base64 of it
