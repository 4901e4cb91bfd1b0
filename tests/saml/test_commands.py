"""import_idp_metadata and generate_saml_keypair, and the admin's pasted-metadata field."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from django_provisioning.models import Connection
from django_provisioning.saml.config import cert_body

from .conftest import Browser, sp_metadata
from .idp import IDP_ENTITY_ID, IDP_SLO_URL, IDP_SSO_URL, TestIdP, pem

pytestmark = pytest.mark.django_db
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def idp_descriptor(
    entity_id: str = IDP_ENTITY_ID, certs: tuple[str, ...] = ("idp.crt", "idp2.crt")
) -> str:
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{cert_body(pem(name))}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        f"</md:KeyDescriptor>"
        for name in certs
    )
    return (
        f'<md:EntityDescriptor entityID="{entity_id}">'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}"
        f'<md:SingleLogoutService Binding="{REDIRECT}" Location="{IDP_SLO_URL}"/>'
        f'<md:SingleSignOnService Binding="{POST}" Location="{IDP_SSO_URL}/post"/>'
        f'<md:SingleSignOnService Binding="{REDIRECT}" Location="{IDP_SSO_URL}"/>'
        f"</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


NSDECL = (
    'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
)


def metadata_xml(**kwargs: Any) -> str:
    body = idp_descriptor(**kwargs)
    return body.replace(
        "<md:EntityDescriptor ", f"<!-- exported --><md:EntityDescriptor {NSDECL} ", 1
    )


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "idp.xml"
    path.write_text(text)
    return str(path)


def test_import_creates_a_connection_that_signs_users_in(tmp_path: Path) -> None:
    out = StringIO()
    call_command("import_idp_metadata", "acme", write(tmp_path, metadata_xml()), stdout=out)

    connection = Connection.objects.get(slug="acme")
    assert "Created connection 'acme'" in out.getvalue()
    assert connection.name == "acme"
    assert connection.idp_entity_id == IDP_ENTITY_ID
    assert connection.idp_sso_url == IDP_SSO_URL  # the redirect binding, not the POST one
    assert connection.idp_slo_url == IDP_SLO_URL
    assert connection.idp_x509_certs == [cert_body(pem("idp.crt")), cert_body(pem("idp2.crt"))]
    browser = Browser(TestIdP(sp_metadata(connection), key="idp2"))
    assert browser.sign_in().status_code == 302
    assert get_user_model().objects.count() == 1


def test_import_updates_an_existing_connection(tmp_path: Path) -> None:
    Connection.objects.create(slug="acme", name="Acme Inc.", idp_entity_id="old")
    out = StringIO()
    call_command("import_idp_metadata", "acme", write(tmp_path, metadata_xml()), stdout=out)
    connection = Connection.objects.get(slug="acme")
    assert connection.name == "Acme Inc."
    assert connection.idp_entity_id == IDP_ENTITY_ID
    assert "Updated" in out.getvalue()


def test_import_picks_one_of_several_idps(tmp_path: Path) -> None:
    both = (
        f"<md:EntitiesDescriptor {NSDECL}>"
        + idp_descriptor("https://one.example/")
        + idp_descriptor("https://two.example/", certs=("idp2.crt",))
        + "</md:EntitiesDescriptor>"
    )
    path = write(tmp_path, both)
    with pytest.raises(CommandError, match="several identity providers"):
        call_command("import_idp_metadata", "acme", path)
    call_command(
        "import_idp_metadata",
        "acme",
        path,
        "--entity-id",
        "https://two.example/",
        stdout=StringIO(),
    )
    connection = Connection.objects.get(slug="acme")
    assert connection.idp_entity_id == "https://two.example/"
    assert connection.idp_x509_certs == [cert_body(pem("idp2.crt"))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<md:EntityDescriptor", "not acceptable XML"),
        (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "not acceptable XML",
        ),
        (f'<md:EntityDescriptor {NSDECL} entityID="x"/>', "no identity provider"),
    ],
    ids=["malformed", "xxe", "no-idp"],
)
def test_import_refuses_bad_metadata(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("import_idp_metadata", "acme", write(tmp_path, text))
    assert not Connection.objects.exists()


def test_import_refuses_settings_declared_connection(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="declared in settings"):
        call_command("import_idp_metadata", "settings-co", write(tmp_path, metadata_xml()))


def test_import_missing_file() -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_idp_metadata", "acme", "/nonexistent/idp.xml")


def test_generate_saml_keypair(tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "generate_saml_keypair",
        "--out-dir",
        str(tmp_path),
        "--cn",
        "dev sp",
        "--days",
        "30",
        stdout=out,
    )
    cert = x509.load_pem_x509_certificate((tmp_path / "sp.crt").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=dev sp"
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    assert cert.public_key().key_size == 2048
    assert (tmp_path / "sp.key").stat().st_mode & 0o777 == 0o600
    # The keys to merge, not a DJANGO_PROVISIONING = {...} block that would replace one.
    lines = out.getvalue().splitlines()
    assert f'    "SAML_SP_CERTIFICATE": "{tmp_path / "sp.crt"}",' in lines
    assert f'    "SAML_SP_PRIVATE_KEY": "{tmp_path / "sp.key"}",' in lines
    assert "DJANGO_PROVISIONING = {" not in out.getvalue()
    with pytest.raises(CommandError, match="exists"):
        call_command("generate_saml_keypair", "--out-dir", str(tmp_path), stdout=StringIO())


def test_admin_accepts_pasted_metadata(admin_client: Client) -> None:
    connection = Connection.objects.create(slug="acme", name="Acme")
    url = f"/admin/django_provisioning/connection/{connection.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "Paste IdP metadata XML" in page.content.decode()
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(
        {
            "verified_domains": "[]",
            "idp_x509_certs": "[]",
            "attribute_mapping": "{}",
            "group_mapping": "{}",
            "idp_metadata_xml": metadata_xml(),
            "scim_tokens-TOTAL_FORMS": "0",
            "scim_tokens-INITIAL_FORMS": "0",
        }
    )
    for key in ("is_active", "jit_create", "jit_update", "want_assertions_signed"):
        data[key] = "on"
    for key in (
        "sign_authn_requests",
        "want_messages_signed",
        "want_assertions_encrypted",
        "link_by_email",
        "allow_idp_initiated",
    ):
        data.pop(key, None)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    assert connection.idp_entity_id == IDP_ENTITY_ID
    assert len(connection.idp_x509_certs) == 2


def test_admin_reports_bad_pasted_metadata(admin_client: Client) -> None:
    connection = Connection.objects.create(slug="acme", name="Acme")
    url = f"/admin/django_provisioning/connection/{connection.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v not in (None, False)}
    data.update(
        {
            "verified_domains": "[]", "idp_x509_certs": "[]", "attribute_mapping": "{}",
            "group_mapping": "{}", "idp_metadata_xml": "<broken",
            "scim_tokens-TOTAL_FORMS": "0", "scim_tokens-INITIAL_FORMS": "0",
        }
    )  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "not acceptable XML" in response.content.decode()


def test_import_refuses_a_connection_removed_from_settings(tmp_path: Path) -> None:
    Connection.objects.create(slug="gone", name="Gone", from_settings=True)
    with pytest.raises(CommandError, match="removed from them, so it is inactive"):
        call_command("import_idp_metadata", "gone", write(tmp_path, metadata_xml()))
    assert Connection.objects.values_list("idp_entity_id", flat=True).get(slug="gone") == ""
