"""import_idp_metadata from a URL, and refresh_idp_metadata: rollover, audit, cron behaviour.

The IdP's metadata is served by a local plain-HTTP server (the operator's commands may fetch
any URL); no test reaches the internet.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from django_provisioning.models import AuditEvent, Connection
from django_provisioning.saml.config import cert_body

from .certs import cert_valid_for
from .idp import IDP_ENTITY_ID, IDP_SLO_URL, IDP_SSO_URL, pem
from .metadata_server import Server, send, serve
from .test_commands import NSDECL, REDIRECT, metadata_xml

pytestmark = pytest.mark.django_db


@pytest.fixture
def idp_site() -> Iterator[Server]:
    yield from serve(tls=False)


def publish(server: Server, xml: str, path: str = "/metadata") -> str:
    server.routes[path] = send(200, xml.encode(), Content_Type="application/samlmetadata+xml")
    return f"http://127.0.0.1:{server.port}{path}"


def with_certs(*certs: str, sso: str = IDP_SSO_URL, entity_id: str = IDP_ENTITY_ID) -> str:
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{cert_body(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for cert in certs
    )
    return (
        f'<md:EntityDescriptor {NSDECL} entityID="{entity_id}">'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'{keys}<md:SingleLogoutService Binding="{REDIRECT}" Location="{IDP_SLO_URL}"/>'
        f'<md:SingleSignOnService Binding="{REDIRECT}" Location="{sso}"/>'
        f"</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def refresh(*slugs: str, verbosity: int = 1) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("refresh_idp_metadata", *slugs, stdout=out, stderr=err, verbosity=verbosity)
    return out.getvalue(), err.getvalue()


def test_import_from_a_url_remembers_it(idp_site: Server) -> None:
    url = publish(idp_site, metadata_xml())
    out = StringIO()

    call_command("import_idp_metadata", "acme", url, stdout=out)

    connection = Connection.objects.get(slug="acme")
    assert connection.idp_metadata_url == url
    assert connection.idp_entity_id == IDP_ENTITY_ID
    assert connection.idp_x509_certs == [cert_body(pem("idp.crt")), cert_body(pem("idp2.crt"))]
    assert f"Metadata URL remembered: {url}" in out.getvalue()


def test_import_from_a_url_that_fails_writes_nothing(idp_site: Server) -> None:
    with pytest.raises(CommandError, match="answered HTTP 404"):
        call_command("import_idp_metadata", "acme", f"http://127.0.0.1:{idp_site.port}/gone")
    assert not Connection.objects.exists()


def test_import_from_a_file_keeps_the_remembered_url(idp_site: Server, tmp_path: Any) -> None:
    Connection.objects.create(slug="acme", name="Acme", idp_metadata_url="https://idp.test/md")
    path = tmp_path / "idp.xml"
    path.write_text(metadata_xml())

    call_command("import_idp_metadata", "acme", str(path), stdout=StringIO())

    assert Connection.objects.get(slug="acme").idp_metadata_url == "https://idp.test/md"


def test_a_rollover_adds_the_next_certificate_then_drops_the_old(idp_site: Server) -> None:
    old, new = pem("idp.crt"), pem("idp2.crt")
    url = publish(idp_site, with_certs(old))
    call_command("import_idp_metadata", "acme", url, stdout=StringIO())

    publish(idp_site, with_certs(old, new))  # the IdP announces its next certificate
    assert refresh() == ("", "")  # quiet on success
    connection = Connection.objects.get(slug="acme")
    assert connection.idp_x509_certs == [cert_body(old), cert_body(new)]
    event = AuditEvent.objects.get(action="idp_metadata_refreshed")
    assert event.connection == connection
    assert event.detail["url"] == url
    assert len(event.detail["certificates_added"]) == 1
    assert event.detail["certificates_removed"] == []

    assert refresh() == ("", "")  # nothing new: nothing written, nothing audited
    assert AuditEvent.objects.filter(action="idp_metadata_refreshed").count() == 1

    publish(idp_site, with_certs(new))  # the IdP retires the old one
    refresh()
    assert Connection.objects.get(slug="acme").idp_x509_certs == [cert_body(new)]
    last = AuditEvent.objects.filter(action="idp_metadata_refreshed").first()
    assert last is not None
    assert last.detail["certificates_added"] == []
    assert len(last.detail["certificates_removed"]) == 1


def test_urls_and_entity_id_changes_are_applied_and_audited(idp_site: Server) -> None:
    url = publish(idp_site, with_certs(pem("idp.crt")))
    call_command("import_idp_metadata", "acme", url, stdout=StringIO())
    publish(
        idp_site,
        with_certs(pem("idp.crt"), sso="https://idp.example.org/sso2", entity_id="urn:new"),
    )

    out, _err = refresh("acme", verbosity=2)

    connection = Connection.objects.get(slug="acme")
    assert (connection.idp_entity_id, connection.idp_sso_url) == (
        "urn:new",
        "https://idp.example.org/sso2",
    )
    assert out == "acme: idp_entity_id; idp_sso_url.\n"
    detail = AuditEvent.objects.get(action="idp_metadata_refreshed").detail
    assert detail["changed"] == {
        "idp_entity_id": {"from": IDP_ENTITY_ID, "to": "urn:new"},
        "idp_sso_url": {"from": IDP_SSO_URL, "to": "https://idp.example.org/sso2"},
    }


def test_a_failure_is_reported_the_others_are_refreshed_and_the_exit_is_non_zero(
    idp_site: Server,
) -> None:
    good = publish(idp_site, with_certs(pem("idp.crt")), "/good")
    Connection.objects.create(slug="broken", name="B", idp_metadata_url=good + "-missing")
    Connection.objects.create(
        slug="garbage", name="G", idp_metadata_url=publish(idp_site, "<x", "/x")
    )
    Connection.objects.create(slug="fine", name="F", idp_metadata_url=good)
    Connection.objects.create(slug="no-url", name="N")

    with pytest.raises(CommandError, match=r"2 of 3 connection\(s\) could not be refreshed") as exc:
        refresh()

    assert exc.value.returncode == 1
    fine = Connection.objects.get(slug="fine")
    assert fine.idp_x509_certs == [cert_body(pem("idp.crt"))]
    assert Connection.objects.get(slug="broken").idp_x509_certs == []


def test_failures_go_to_standard_error(idp_site: Server) -> None:
    Connection.objects.create(
        slug="broken", name="B", idp_metadata_url=f"http://127.0.0.1:{idp_site.port}/none"
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("refresh_idp_metadata", stdout=StringIO(), stderr=err)
    assert "broken: http://127.0.0.1" in err.getvalue()
    assert "answered HTTP 404, not the metadata" in err.getvalue()


def test_metadata_with_a_problem_is_not_applied(idp_site: Server) -> None:
    url = publish(idp_site, with_certs(pem("idp.crt")))
    call_command("import_idp_metadata", "acme", url, stdout=StringIO())
    publish(idp_site, with_certs(cert_valid_for(-3)))  # only an expired certificate

    with pytest.raises(CommandError):
        refresh("acme")

    assert Connection.objects.get(slug="acme").idp_x509_certs == [cert_body(pem("idp.crt"))]
    assert not AuditEvent.objects.filter(action="idp_metadata_refreshed").exists()


def test_declared_connections_are_skipped_and_refused_by_name(idp_site: Server) -> None:
    declared = Connection.objects.get_or_create(slug="settings-co", defaults={"name": "S"})[0]
    Connection.objects.filter(pk=declared.pk).update(
        from_settings=True, idp_metadata_url=publish(idp_site, with_certs(pem("idp.crt")))
    )

    assert refresh(verbosity=2) == ("settings-co: skipped (declared in settings).\n", "")
    with pytest.raises(CommandError, match="1 of 1"):
        refresh("settings-co")


def test_an_unknown_slug() -> None:
    with pytest.raises(CommandError, match=r"No such connection: nope\."):
        refresh("nope")


def test_a_several_idp_file_refreshes_the_connections_own(idp_site: Server) -> None:
    both = (
        f"<md:EntitiesDescriptor {NSDECL}>"
        + with_certs(pem("idp.crt"), entity_id="https://one.example/").replace(f" {NSDECL}", "")
        + with_certs(pem("idp2.crt"), entity_id="https://two.example/").replace(f" {NSDECL}", "")
        + "</md:EntitiesDescriptor>"
    )
    Connection.objects.create(
        slug="two",
        name="Two",
        idp_entity_id="https://two.example/",
        idp_metadata_url=publish(idp_site, both),
    )

    refresh("two")

    assert Connection.objects.get(slug="two").idp_x509_certs == [cert_body(pem("idp2.crt"))]


def test_values_the_connection_cannot_hold_are_not_applied(idp_site: Server) -> None:
    url = publish(idp_site, with_certs(pem("idp.crt")))
    call_command("import_idp_metadata", "acme", url, stdout=StringIO())
    publish(idp_site, with_certs(pem("idp.crt"), sso="https://idp.example.org/" + "x" * 1100))

    err = StringIO()
    with pytest.raises(CommandError):
        call_command("refresh_idp_metadata", stdout=StringIO(), stderr=err)

    assert "was not applied: idp_sso_url:" in err.getvalue()
    assert Connection.objects.get(slug="acme").idp_sso_url == IDP_SSO_URL


def test_a_url_given_in_the_portal_is_refetched_under_the_portals_rules(
    idp_site: Server, settings: Any
) -> None:
    """The portal checked a stranger's URL once; the cron job must not fetch it blindly later
    (a DNS answer or a redirect that changes then would reach the product's own network)."""
    settings.DEBUG = False
    internal = publish(idp_site, with_certs(pem("idp2.crt")))  # 127.0.0.1: the product's network
    Connection.objects.create(
        slug="acme",
        name="Acme",
        idp_metadata_url=internal,
        idp_metadata_url_untrusted=True,
        idp_x509_certs=[cert_body(pem("idp.crt"))],
    )
    idp_site.seen.clear()

    err = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("refresh_idp_metadata", stdout=StringIO(), stderr=err)

    assert exc.value.returncode == 1
    assert "must use HTTPS" in err.getvalue()
    assert idp_site.seen == []  # no request was made
    assert Connection.objects.get(slug="acme").idp_x509_certs == [cert_body(pem("idp.crt"))]
    assert not AuditEvent.objects.exists()


def test_the_operators_import_makes_a_portal_url_the_operators(idp_site: Server) -> None:
    url = publish(idp_site, with_certs(pem("idp.crt")))
    Connection.objects.create(
        slug="acme", name="Acme", idp_metadata_url=url, idp_metadata_url_untrusted=True
    )

    call_command("import_idp_metadata", "acme", url, stdout=StringIO())

    assert Connection.objects.get(slug="acme").idp_metadata_url_untrusted is False
    refresh()  # the operator's URL: any URL
