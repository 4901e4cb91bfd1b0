"""Refused SCIM authentications and SAML sign-ins leave an audit trail, rate-limited."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client, override_settings
from django.utils import timezone

from django_provisioning import audit
from django_provisioning.models import AuditEvent, Connection, ScimToken
from django_provisioning.saml import errors, validation
from django_provisioning.scim.throttling import FailedAuthenticationThrottle
from django_provisioning.tokens import issue_token, revoke_token

from .factories import ConnectionFactory

IP = "198.51.100.7"
IDP_CERT = (Path(__file__).parent / "keys" / "idp.crt").read_text()


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Keep every request of a test inside one window of the audit limits and the throttle."""

    class Clock:
        now = 1_000_000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(audit, "_clock", clock)
    monkeypatch.setattr(FailedAuthenticationThrottle, "timer", staticmethod(clock))
    return clock


def scim_get(header: str | None, ip: str = IP) -> Any:
    headers = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    return Client(REMOTE_ADDR=ip, **headers).get("/scim/v2/Users")


def refusals(action: str = "auth_refused") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# -- SCIM --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no_credentials"),
        ("Basic dXNlcjpwYXNz", "malformed_header"),
        ("Bearer", "malformed_header"),
        ("Bearer scim_nope", "unknown_token"),
        ("Bearer é", "malformed_token"),
    ],
)
def test_refused_scim_authentication_is_audited(db: Any, header: str | None, reason: str) -> None:
    assert scim_get(header).status_code == 401
    (event,) = refusals()
    assert (event.source, event.connection, event.user, event.target) == ("scim", None, None, IP)
    assert event.detail == {
        "reason": reason,
        "client": IP,
        "method": "GET",
        "path": "/scim/v2/Users",
        "status": 401,
    }


@pytest.mark.parametrize("why", ["revoked_token", "expired_token", "inactive_connection"])
def test_a_known_but_unusable_token_names_its_connection_and_prefix(
    connection: Connection, why: str
) -> None:
    token, raw = issue_token(connection, name="old okta")
    if why == "revoked_token":
        revoke_token(token)
    elif why == "expired_token":
        ScimToken.objects.filter(pk=token.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    else:
        Connection.objects.filter(pk=connection.pk).update(is_active=False)
    assert scim_get(f"Bearer {raw}").status_code == 401
    (event,) = refusals()
    assert event.connection == connection
    assert event.detail["reason"] == why
    assert event.detail["token_id"] == token.pk
    assert event.detail["token_prefix"] == token.prefix == raw[:12]
    row = json.dumps([event.target, event.detail])
    assert raw not in row and raw[12:] not in row  # never the secret part of the token


def test_a_valid_token_writes_no_refusal(scim: Any) -> None:
    assert scim.get("Users").status_code == 200
    assert refusals() == []


def test_a_throttled_request_is_audited_as_429(db: Any) -> None:
    with override_settings(DJANGO_PROVISIONING={"SCIM_FAILED_AUTH_RATE": "2/min"}):
        statuses = [scim_get("Bearer scim_nope").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert [e.detail["status"] for e in refusals()] == [401, 401, 429]


def test_a_flood_of_1000_refusals_writes_at_most_the_bound(db: Any, clock: Any) -> None:
    """REFUSAL_AUDIT_RATE (10/min by default) rows per client address, then a count."""
    statuses = {scim_get("Bearer scim_nope").status_code for _ in range(1000)}
    assert statuses == {401, 429}
    events = refusals()
    assert len(events) == 10
    assert events[-1].detail["limit_reached"] == "client"
    assert "limit_reached" not in events[0].detail
    # The next window's first row says how many were left out.
    clock.now += 60
    scim_get("Bearer scim_nope")
    latest = refusals()[-1]
    assert len(refusals()) == 11
    assert latest.detail["suppressed"] == 990
    clock.now += 60
    scim_get("Bearer scim_nope")
    assert "suppressed" not in refusals()[-1].detail  # counted once, not again


def test_a_flood_from_changing_addresses_is_bounded_per_connection(db: Any) -> None:
    """A guesser that changes address with every request (a forged X-Forwarded-For, an IPv6
    block) meets REFUSAL_AUDIT_CONNECTION_RATE (60/min by default)."""
    for i in range(1000):
        assert scim_get("Bearer scim_nope", ip=f"2001:db8::{i:x}").status_code == 401
    events = refusals()
    assert len(events) == 60
    assert events[-1].detail["limit_reached"] == "connection"


def test_one_clients_flood_does_not_hide_other_clients_refusals(connection: Connection) -> None:
    for _ in range(1000):
        scim_get("Bearer scim_nope")
    token, raw = issue_token(connection)
    revoke_token(token)
    scim_get(f"Bearer {raw}", ip="203.0.113.9")  # an IdP still using a revoked token
    scim_get("Bearer scim_nope", ip="203.0.113.10")
    clients = [e.target for e in refusals()]
    assert clients.count(IP) == 10
    assert "203.0.113.9" in clients and "203.0.113.10" in clients


@override_settings(
    DJANGO_PROVISIONING={"REFUSAL_AUDIT_RATE": "2/hour", "REFUSAL_AUDIT_CONNECTION_RATE": "5/min"}
)
def test_the_limits_are_settings(db: Any) -> None:
    for _ in range(20):
        scim_get("Bearer scim_nope")
    assert len(refusals()) == 2
    for i in range(20):
        scim_get("Bearer scim_nope", ip=f"192.0.2.{i}")
    assert len(refusals()) == 5


def test_a_database_failure_while_auditing_still_answers_401(
    db: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseError("database is locked")

    monkeypatch.setattr(AuditEvent.objects, "create", fail)
    with caplog.at_level(logging.WARNING, "django_provisioning.audit"):
        assert scim_get("Bearer scim_nope").status_code == 401
    assert "Refusal not audited" in caplog.text


# -- SAML --------------------------------------------------------------------------------------


@pytest.fixture
def saml_connection(db: Any) -> Connection:
    return ConnectionFactory(
        slug="acme",
        idp_entity_id="https://idp.example.com/",
        idp_sso_url="https://idp.example.com/sso",
        idp_x509_certs=[IDP_CERT],
    )


def unsolicited_response() -> str:
    xml = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" '
        'Version="2.0" IssueInstant="2026-01-01T00:00:00Z">'
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" '
        'Version="2.0" IssueInstant="2026-01-01T00:00:00Z"/></samlp:Response>'
    )
    return base64.b64encode(xml.encode()).decode()


@pytest.mark.parametrize(
    ("method", "path", "data", "reason", "status", "action"),
    [
        ("post", "/sso/acme/acs/", {}, "missing_response", 400, "signin_refused"),
        ("post", "/sso/acme/acs/", {"SAMLResponse": "%%%"}, "malformed", 400, "signin_refused"),
        ("post", "/sso/acme/acs/", "unsolicited", "unsolicited", 403, "signin_refused"),
        ("get", "/sso/acme/acs/finish/", {"key": "x"}, "pending_expired", 400, "signin_refused"),
        ("get", "/sso/acme/slo/", {}, "not_configured", 404, "logout_refused"),
    ],
)
def test_refused_saml_requests_are_audited(
    saml_connection: Connection,
    method: str,
    path: str,
    data: Any,
    reason: str,
    status: int,
    action: str,
) -> None:
    if data == "unsolicited":
        data = {"SAMLResponse": unsolicited_response()}
    response = getattr(Client(REMOTE_ADDR=IP), method)(path, data)
    assert response.status_code == status
    (event,) = AuditEvent.objects.all()
    assert (event.source, event.action, event.connection) == ("saml", action, saml_connection)
    assert event.target == IP
    assert event.detail["reason"] == reason
    assert event.detail["status"] == status
    assert event.detail["client"] == IP
    # The reference on the page leads to the row (and to the log line).
    assert event.detail["reference"] == response.context["reference"]
    assert event.detail["reference"] in response.content.decode()


def test_unknown_connection_is_audited_without_one(db: Any) -> None:
    response = Client(REMOTE_ADDR=IP).get("/sso/nobody/login/")
    assert response.status_code == 404
    (event,) = AuditEvent.objects.all()
    assert (event.action, event.connection) == ("signin_refused", None)
    assert event.detail["reason"] == "unknown_connection"
    assert event.detail["slug"] == "nobody"


def test_an_unexpected_failure_is_audited_too(
    saml_connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any) -> Any:
        raise KeyError("surprise")

    # The ACS's first call on the posted response (it parses it, then validates it).
    monkeypatch.setattr("django_provisioning.saml.views.parse_posted", explode)
    response = Client(REMOTE_ADDR=IP).post("/sso/acme/acs/", {"SAMLResponse": "x"})
    assert response.status_code == 400
    (event,) = AuditEvent.objects.all()
    assert event.detail["reason"] == "invalid"
    assert event.detail["detail"] == "unexpected KeyError"
    assert validation.parse_posted is not explode  # only the view's name was replaced


def test_an_unavailable_answer_writes_no_row(
    saml_connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 (database down or locked) is not audited: the row could not be written."""
    monkeypatch.setitem(errors.REASONS, "unavailable", (503, "Try again in a minute."))

    def unavailable(*args: Any) -> Any:
        raise errors.SamlError("unavailable", "database is locked")

    monkeypatch.setattr("django_provisioning.saml.views.parse_posted", unavailable)
    response = Client(REMOTE_ADDR=IP).post("/sso/acme/acs/", {"SAMLResponse": "x"})
    assert response.status_code == 503
    assert response.context["reference"] in response.content.decode()
    assert AuditEvent.objects.count() == 0


def test_a_flood_of_refused_sign_ins_writes_at_most_the_bound(
    saml_connection: Connection, clock: Any
) -> None:
    client = Client(REMOTE_ADDR=IP)
    for _ in range(1000):
        assert client.post("/sso/acme/acs/", {"SAMLResponse": "%%%"}).status_code == 400
    assert AuditEvent.objects.filter(action="signin_refused").count() == 10
    clock.now += 60
    client.post("/sso/acme/acs/", {})
    latest = AuditEvent.objects.order_by("-pk").first()
    assert latest is not None and latest.detail["suppressed"] == 990


def test_scim_and_saml_refusals_are_limited_separately(saml_connection: Connection) -> None:
    for _ in range(50):
        scim_get("Bearer scim_nope")
        Client(REMOTE_ADDR=IP).post("/sso/acme/acs/", {})
    assert AuditEvent.objects.filter(source="scim").count() == 10
    assert AuditEvent.objects.filter(source="saml").count() == 10


# -- the rate format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("30/min", (30, 60)), ("5/s", (5, 1)), ("1/hour", (1, 3600)), ("100/days", (100, 86400))],
)
def test_parse_rate(rate: str, parsed: tuple[int, int]) -> None:
    assert audit.parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["30/month", "0/min", "30", "30 / min", "-1/s", 30, None, ""])
def test_parse_rate_refuses(rate: Any) -> None:
    with pytest.raises(ValueError):
        audit.parse_rate(rate)
