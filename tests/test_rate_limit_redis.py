"""The throttle and the refusal audit limits on Django's RedisCache, shared by processes.

Needs Redis at 127.0.0.1:6379 (``REDIS_URL`` to change): skipped without it on a developer's
machine, failed under CI. Each test uses its own key prefix and deletes only its own keys, so
parallel runs sharing one Redis do not see each other's counts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache.backends.redis import RedisCache
from django.test import Client, RequestFactory, override_settings

from django_provisioning import audit
from django_provisioning.models import AuditEvent
from django_provisioning.scim.throttling import FailedAuthenticationThrottle

from .tools import require_redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
IP = "198.51.100.7"


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis(REDIS_URL)
    import redis

    prefix = f"dp-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def process_cache(prefix: str) -> RedisCache:
    """The cache client one worker process would have: its own connection pool."""
    return RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})


def test_two_processes_share_one_failure_count(prefix: str) -> None:
    first, second = process_cache(prefix), process_cache(prefix)
    assert first._cache is not second._cache  # two clients, as in two processes
    request = RequestFactory().get("/scim/v2/Users", REMOTE_ADDR=IP)
    with override_settings(REST_FRAMEWORK={"NUM_PROXIES": 0}):
        for i in range(30):  # the default 30/min, spent alternately by the two processes
            worker = first if i % 2 else second
            assert FailedAuthenticationThrottle(cache=worker).allow_request(request, None)
        for worker in (first, second):
            throttle = FailedAuthenticationThrottle(cache=worker)
            assert not throttle.allow_request(request, None)
            assert 1 <= throttle.retry_after() <= 60
        other = RequestFactory().get("/scim/v2/Users", REMOTE_ADDR="198.51.100.8")
        assert FailedAuthenticationThrottle(cache=second).allow_request(other, None)


def test_scim_requests_throttled_and_audited_through_redis(
    prefix: str, scim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One window for the audit limits and the throttle, however slow the machine.
    monkeypatch.setattr(audit, "_clock", lambda: 1_000_000.0)
    monkeypatch.setattr(FailedAuthenticationThrottle, "timer", staticmethod(lambda: 1_000_000.0))
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "rate-limits": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        },
    }
    bad = Client(REMOTE_ADDR=IP, HTTP_AUTHORIZATION="Bearer scim_nope")
    with override_settings(CACHES=caches, DJANGO_PROVISIONING={"RATE_LIMIT_CACHE": "rate-limits"}):
        statuses = [bad.get("/scim/v2/Users").status_code for _ in range(100)]
        good = Client(REMOTE_ADDR=IP, HTTP_AUTHORIZATION=f"Bearer {scim.token}")
        assert good.get("/scim/v2/Users").status_code == 200
        # Another process (another client of the same Redis) sees the same count.
        request = RequestFactory().get("/scim/v2/Users", REMOTE_ADDR=IP)
        assert not FailedAuthenticationThrottle(cache=process_cache(prefix)).allow_request(
            request, None
        )
    assert statuses == [401] * 30 + [429] * 70
    events = AuditEvent.objects.filter(action="auth_refused").order_by("pk")
    assert [event.detail["status"] for event in events] == [401] * 10
    import redis

    keys = {k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{prefix}:*")}
    assert any("throttle:scim_failed_auth" in k for k in keys)
    assert any("refusals:scim" in k for k in keys)
