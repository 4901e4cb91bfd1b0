"""Every error under the SCIM prefix is an RFC 7644 §3.12 body, never HTML or a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from django_provisioning.adapter import DefaultAdapter, ProvisioningDenied
from django_provisioning.models import ExternalIdentity
from django_provisioning.tokens import issue_token, revoke_token

from .test_users_api import create, okta_user

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def assert_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/scim+json"
    body = json.loads(response.content)
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type
    assert "Traceback" not in body["detail"]
    return body


class RefusingAdapter(DefaultAdapter):
    def save_user(self, user: Any, connection: Any, *, created: bool) -> None:
        raise ProvisioningDenied("Seat limit reached for this plan.")


class BrokenAdapter(DefaultAdapter):
    def save_user(self, user: Any, connection: Any, *, created: bool) -> None:
        raise RuntimeError("database password is hunter2")


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Token abc"]
)
def test_401_with_www_authenticate(db, header):
    client = Client(**({"HTTP_AUTHORIZATION": header} if header else {}))
    response = client.get("/scim/v2/Users")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401(connection):
    token, raw = issue_token(connection)
    revoke_token(token)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/scim/v2/Users")
    assert_error(response, 401)


def test_403_when_adapter_refuses(scim):
    with override_settings(
        DJANGO_PROVISIONING={"ADAPTER": "tests.scim.test_protocol_errors.RefusingAdapter"}
    ):
        body = assert_error(scim.post("Users", okta_user()), 403)
    assert body["detail"] == "Seat limit reached for this plan."
    assert ExternalIdentity.objects.count() == 0


def test_500_is_a_scim_body_without_internals(scim, caplog):
    with override_settings(
        DJANGO_PROVISIONING={"ADAPTER": "tests.scim.test_protocol_errors.BrokenAdapter"}
    ):
        with caplog.at_level(logging.ERROR, "django_provisioning.scim"):
            response = scim.post("Users", okta_user())
    body = assert_error(response, 500)
    assert "hunter2" not in response.content.decode()
    assert body["detail"] == "The service provider failed to process the request."
    assert "hunter2" in caplog.text  # the operator sees it in the log
    assert ExternalIdentity.objects.count() == 0


@pytest.mark.parametrize("path", ["Devices", "Nope", "Users/x/y", "Groups/x/y", "Schemas/x/y/z"])
def test_unknown_route_is_scim_404(scim, path):
    assert_error(scim.get(path), 404)


def test_405(scim):
    created = create(scim)
    assert_error(scim.post(f"Users/{created['id']}", okta_user()), 405)
    assert_error(scim.delete("Users"), 405)
    assert_error(scim.put("ServiceProviderConfig", {}), 405)


def test_413_payload_too_large(scim):
    with override_settings(DJANGO_PROVISIONING={"SCIM_MAX_PAYLOAD_SIZE": 1000}):
        assert_error(scim.post("Users", okta_user(title="x" * 2000)), 413)
    assert ExternalIdentity.objects.count() == 0


def test_415_unsupported_media_type(scim):
    response = scim.post("Users", "userName=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415)


def test_application_json_is_accepted(scim):
    response = scim.post("Users", okta_user(), content_type="application/json")
    assert response.status_code == 201


def test_any_accept_header_gets_scim_json(scim):
    response = scim.get("Users", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/scim+json"


def test_the_media_type_follows_each_accept_header_and_its_memo_stays_bounded(scim, monkeypatch):
    """The renderer chosen for an Accept header is kept (DRF parses it once): each header
    still gets its own answer, and many distinct headers do not grow the memo past its cap."""
    from django_provisioning.scim import base

    monkeypatch.setattr(base, "_CHOSEN", {})
    monkeypatch.setattr(base, "_CHOSEN_MAX", 4)
    expected = {
        "application/json": "application/json",
        "application/scim+json": "application/scim+json",
        "application/json; indent=2": "application/json",
        "*/*": "application/scim+json",
        "text/html": "application/scim+json",
    }
    for _round in range(2):
        for accept, content_type in expected.items():
            response = scim.get("ServiceProviderConfig", HTTP_ACCEPT=accept)
            assert response.status_code == 200
            assert response["Content-Type"] == content_type, accept
            assert len(base._CHOSEN) <= 4
    for i in range(20):
        scim.get("ServiceProviderConfig", HTTP_ACCEPT=f"application/x-{i}")
        assert len(base._CHOSEN) <= 4


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"[1,2", b"null", b"12", b'"x"'])
def test_malformed_json_is_400(scim, raw):
    response = scim.post("Users", raw)
    assert_error(response, 400)
    assert ExternalIdentity.objects.count() == 0


def test_501_for_me_and_405_for_a_bulk_get(scim):
    assert_error(scim.get("Me"), 501)
    assert_error(scim.get("Bulk"), 405)


def test_a_refused_request_is_logged_once(scim, caplog, client):
    """The package's line only: Django's request logger adds none for a SCIM 4xx."""
    with caplog.at_level(logging.DEBUG):
        client.get("/scim/v2/Users")  # no token: 401
        scim.get("Users/nope")  # 404
    assert [r.name for r in caplog.records if "Users" in r.getMessage()] == [
        "django_provisioning.scim",
        "django_provisioning.scim",
    ]


def test_requests_are_logged_without_secrets(scim, caplog):
    with caplog.at_level(logging.INFO, "django_provisioning.scim"):
        scim.post("Users", okta_user(password="Very-secret-9"))
        scim.get("Users/nope")
    assert "SCIM POST Users connection=acme status=201" in caplog.text
    assert "SCIM GET Users/{id} connection=acme status=404" in caplog.text
    assert "Very-secret-9" not in caplog.text and scim.token not in caplog.text
