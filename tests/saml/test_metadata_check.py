"""check_idp_metadata says what keeps IdP metadata from working; certificate_expiry reads dates."""

from __future__ import annotations

import datetime as dt

import pytest

from django_provisioning.saml.config import cert_body
from django_provisioning.saml.metadata_import import (
    IdpMetadata,
    MetadataError,
    certificate_expiry,
    check_idp_metadata,
    parse_idp_metadata,
)

from .certs import make_cert
from .idp import IDP_ENTITY_ID, IDP_SLO_URL, pem

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
YEAR = dt.timedelta(days=365)
CURRENT = make_cert(NOW - YEAR, NOW + YEAR, "current")
EXPIRED = make_cert(NOW - 2 * YEAR, dt.datetime(2030, 5, 1, 8, 30, tzinfo=dt.timezone.utc), "old")
FUTURE = make_cert(dt.datetime(2030, 7, 1, tzinfo=dt.timezone.utc), NOW + 2 * YEAR, "next")


def meta(**changes: object) -> IdpMetadata:
    values: dict[str, object] = {
        "entity_id": IDP_ENTITY_ID,
        "sso_url": "https://idp.example.org/sso",
        "slo_url": IDP_SLO_URL,
        "certificates": [CURRENT],
    }
    values.update(changes)
    return IdpMetadata(**values)  # type: ignore[arg-type]


def test_good_metadata_has_no_problem() -> None:
    assert check_idp_metadata(meta(), expected_entity_id=IDP_ENTITY_ID, now=NOW) == []


def test_an_expired_certificate_is_named_with_its_date() -> None:
    problems = check_idp_metadata(meta(certificates=[EXPIRED]), now=NOW)

    assert len(problems) == 1
    assert "signing certificate 'old'" in problems[0]
    assert "expired on 2030-05-01 08:30 UTC" in problems[0]


def test_a_certificate_not_yet_valid_is_named_with_its_date() -> None:
    assert check_idp_metadata(meta(certificates=[FUTURE]), now=NOW) == [
        f"The signing certificate 'next' (serial {_serial(FUTURE)}) is not valid until "
        "2030-07-01 00:00 UTC."
    ]


def test_a_rollover_listing_an_old_and_a_next_certificate_is_fine() -> None:
    assert check_idp_metadata(meta(certificates=[EXPIRED, CURRENT, FUTURE]), now=NOW) == []


def test_expired_and_future_alone_are_both_reported() -> None:
    problems = check_idp_metadata(meta(certificates=[EXPIRED, FUTURE]), now=NOW)

    assert [("expired on" in p, "not valid until" in p) for p in problems] == [
        (True, False),
        (False, True),
    ]


def test_no_signing_certificate() -> None:
    assert check_idp_metadata(meta(certificates=[]), now=NOW) == [
        "The metadata publishes no signing certificate, so no sign-in could be verified."
    ]


def test_an_unreadable_certificate_is_reported_even_beside_a_good_one() -> None:
    problems = check_idp_metadata(meta(certificates=["bm90IGEgY2VydA==", CURRENT]), now=NOW)

    assert problems == ["A signing certificate is not a readable X.509 certificate."]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"sso_url": "http://idp.example.org/sso"},
            "The single sign-on URL http://idp.example.org/sso uses HTTP; it must use HTTPS",
        ),
        (
            {"slo_url": "http://idp.example.org/slo"},
            "The single logout URL http://idp.example.org/slo uses HTTP",
        ),
        ({"sso_url": ""}, "The metadata gives no single sign-on URL"),
        ({"sso_url": "javascript:alert(1)"}, "is not an https:// URL"),
        ({"entity_id": " "}, "gives no entity id"),
    ],
    ids=["sso-http", "slo-http", "no-sso", "sso-scheme", "no-entity-id"],
)
def test_url_and_entity_id_problems(changes: dict[str, str], expected: str) -> None:
    problems = check_idp_metadata(meta(**changes), now=NOW)

    assert len(problems) == 1
    assert expected in problems[0]


def test_the_wrong_entity_id() -> None:
    assert check_idp_metadata(
        meta(), expected_entity_id="https://login.example.net/tenant", now=NOW
    ) == [
        f"The metadata is for the identity provider {IDP_ENTITY_ID!r}, not the expected "
        "'https://login.example.net/tenant'."
    ]


def test_every_problem_at_once() -> None:
    problems = check_idp_metadata(
        meta(sso_url="http://x.example/sso", certificates=[EXPIRED]),
        expected_entity_id="other",
        now=NOW,
    )
    assert len(problems) == 3


def test_now_defaults_to_the_clock() -> None:
    assert check_idp_metadata(meta(certificates=[pem("idp.crt")])) == []


def test_certificate_expiry_reads_pem_and_base64() -> None:
    expected = dt.datetime(2126, 11, 4, 13, 59, 6, tzinfo=dt.timezone.utc)

    assert certificate_expiry(pem("idp.crt")) == expected
    assert certificate_expiry(cert_body(pem("idp.crt"))) == expected
    assert certificate_expiry(EXPIRED).tzinfo is not None


@pytest.mark.parametrize("text", ["", "not base64!", "bm90IGEgY2VydA=="])
def test_certificate_expiry_of_garbage(text: str) -> None:
    with pytest.raises(MetadataError, match=r"not a readable X\.509 certificate"):
        certificate_expiry(text)


def _serial(pem_text: str) -> str:
    from cryptography import x509

    return f"{x509.load_pem_x509_certificate(pem_text.encode()).serial_number:x}"


NSD = (
    'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
)
REDIRECT_SSO = (
    '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
    'Location="https://idp.example.org/sso"/>'
)


def test_metadata_in_another_encoding_is_read() -> None:
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        f'<md:EntityDescriptor {NSD} entityID="https://idp.example.org/caf\xe9">'
        "<md:IDPSSODescriptor><md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
        f"{cert_body(pem('idp.crt'))}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        f"</md:KeyDescriptor>{REDIRECT_SSO}</md:IDPSSODescriptor></md:EntityDescriptor>"
    ).encode("latin-1")

    meta = parse_idp_metadata(xml)

    assert meta.entity_id == "https://idp.example.org/caf\xe9"
    assert meta.certificates == [cert_body(pem("idp.crt"))]


@pytest.mark.parametrize(
    "xml",
    [
        f'<md:EntityDescriptor {NSD} entityID="x"><md:IDPSSODescriptor><md:KeyDescriptor>'
        "<ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data>"
        f"</ds:KeyInfo></md:KeyDescriptor>{REDIRECT_SSO}</md:IDPSSODescriptor>"
        "</md:EntityDescriptor>",
        '<?xml version="1.0" encoding="UTF-16"?><x/>',
    ],
    ids=["empty-certificate", "utf16-declared-not-encoded"],
)
def test_hostile_metadata_is_a_metadata_error(xml: str) -> None:
    with pytest.raises(MetadataError):
        parse_idp_metadata(xml.encode())
