"""The failed-authentication throttle: per client address, failures only, 429 + Retry-After."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from django_provisioning import audit
from django_provisioning.models import AuditEvent, ExternalIdentity
from django_provisioning.scim import throttling
from django_provisioning.scim.throttling import FailedAuthenticationThrottle

from .test_users_api import okta_user

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
BAD = "Bearer scim_this-is-not-a-token"
RATE = 30  # the default SCIM_FAILED_AUTH_RATE, "30/min"


class Clock:
    """A clock for the throttle and the audit windows that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(FailedAuthenticationThrottle, "timer", staticmethod(clock))
    monkeypatch.setattr(audit, "_clock", clock)
    return clock


def bad_request(
    header: str | None = BAD, ip: str = "198.51.100.7", path: str = "/scim/v2/Users", **extra: Any
) -> Any:
    headers = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    return Client(REMOTE_ADDR=ip, **headers, **extra).get(path)


def assert_throttled(response: Any) -> dict[str, Any]:
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith("application/scim+json")
    body = json.loads(response.content)
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == "429"
    assert "Too many failed authentications" in body["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60
    return body


def test_past_the_rate_a_bad_token_gets_429_with_retry_after(db: Any, clock: Clock) -> None:
    for _ in range(RATE):
        assert bad_request().status_code == 401
    response = bad_request()
    assert_throttled(response)
    assert response["Retry-After"] == "60"  # the oldest failure leaves the window in 60 s
    # Every kind of request without a valid token is refused the same way from there on.
    assert_throttled(bad_request(None))
    assert_throttled(bad_request("Basic dXNlcjpwYXNz"))
    assert_throttled(bad_request("Bearer"))
    clock.now += 45
    assert bad_request()["Retry-After"] == "15"


def test_a_valid_token_is_never_throttled_by_other_clients_failures(
    scim: Any, clock: Clock
) -> None:
    """Okta and Entra send many customers' traffic from shared addresses."""
    shared = "198.51.100.7"
    for _ in range(RATE + 200):
        bad_request(ip=shared)
    assert_throttled(bad_request(ip=shared))
    client = Client(REMOTE_ADDR=shared, HTTP_AUTHORIZATION=f"Bearer {scim.token}")
    assert client.get("/scim/v2/Users").status_code == 200
    created = client.post(
        "/scim/v2/Users", json.dumps(okta_user()), content_type="application/scim+json"
    )
    assert created.status_code == 201, created.content
    assert ExternalIdentity.objects.count() == 1
    # ... and its successes do not clear the guesser's count either.
    assert_throttled(bad_request(ip=shared))


def test_only_failures_count(scim: Any, clock: Clock) -> None:
    ip = "198.51.100.7"
    client = Client(REMOTE_ADDR=ip, HTTP_AUTHORIZATION=f"Bearer {scim.token}")
    for _ in range(100):
        assert client.get("/scim/v2/Users").status_code == 200
    for _ in range(RATE):
        assert bad_request(ip=ip).status_code == 401
    assert_throttled(bad_request(ip=ip))


def test_the_count_is_per_client_address(db: Any, clock: Clock) -> None:
    for _ in range(RATE):
        bad_request(ip="198.51.100.7")
    assert_throttled(bad_request(ip="198.51.100.7"))
    assert bad_request(ip="198.51.100.8").status_code == 401


def test_the_window_slides(db: Any, clock: Clock) -> None:
    for _ in range(RATE):
        bad_request()
    assert_throttled(bad_request())
    clock.now += 61
    assert bad_request().status_code == 401


def test_discovery_without_credentials_is_not_a_failure(db: Any, clock: Clock) -> None:
    for _ in range(RATE * 2):
        assert bad_request(None, path="/scim/v2/ServiceProviderConfig").status_code == 200
    assert bad_request().status_code == 401  # the budget is untouched
    for _ in range(RATE):
        bad_request()
    # Past the rate, discovery without a token still answers; a bad token there does not.
    assert bad_request(None, path="/scim/v2/Schemas").status_code == 200
    assert_throttled(bad_request(path="/scim/v2/Schemas"))


@override_settings(DJANGO_PROVISIONING={"SCIM_FAILED_AUTH_RATE": "3/hour"})
def test_the_rate_is_a_setting(db: Any, clock: Clock) -> None:
    for _ in range(3):
        assert bad_request().status_code == 401
    response = bad_request()
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"  # the window is an hour here


@override_settings(DJANGO_PROVISIONING={"SCIM_FAILED_AUTH_RATE": None})
def test_none_turns_the_throttle_off(db: Any, clock: Clock) -> None:
    assert {bad_request().status_code for _ in range(RATE * 3)} == {401}


@pytest.mark.parametrize("num_proxies", [0, 1])
def test_client_address_as_drf_resolves_it(db: Any, clock: Clock, num_proxies: int) -> None:
    """Behind one proxy (NUM_PROXIES=1) the client is the last X-Forwarded-For entry; with
    NUM_PROXIES=0 the header is ignored, so forging it buys no fresh budget."""
    proxy = "10.0.0.1"
    with override_settings(REST_FRAMEWORK={"NUM_PROXIES": num_proxies}):
        for i in range(RATE):
            bad_request(ip=proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.5")
        same_client = bad_request(ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.5")
        assert_throttled(same_client)
        other = bad_request(ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.6")
        if num_proxies == 1:
            assert other.status_code == 401  # another client behind the same proxy
        else:
            assert_throttled(other)  # a forged header is not another client


def test_a_cache_failure_answers_401_not_500(
    db: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    class BrokenCache:
        def __getattr__(self, name: str) -> Any:
            raise ConnectionError("cache is down")

    monkeypatch.setattr(throttling, "rate_limit_cache", BrokenCache)
    monkeypatch.setattr(audit, "rate_limit_cache", BrokenCache)
    with caplog.at_level(logging.WARNING):
        statuses = {bad_request().status_code for _ in range(RATE + 5)}
    assert statuses == {401}
    assert "throttle skipped" in caplog.text and "Refusal not audited" in caplog.text
    assert AuditEvent.objects.count() == 0
