from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from django_provisioning.models import Connection
from django_provisioning.tokens import issue_token

from .factories import ConnectionFactory

SCIM = "/scim/v2"
SCIM_JSON = "application/scim+json"


class ScimClient:
    """A test client that speaks SCIM with one connection's bearer token."""

    def __init__(self, connection: Connection, token: str) -> None:
        self.connection = connection
        self.token = token
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def _call(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        import json

        url = path if path.startswith("/") else f"{SCIM}/{path}"
        kwargs: dict[str, Any] = dict(extra)
        if data is not None:
            kwargs["data"] = data if isinstance(data, (str, bytes)) else json.dumps(data)
            kwargs.setdefault("content_type", SCIM_JSON)
        return getattr(self.client, method)(url, **kwargs)

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: Any) -> Any:
        url = path if path.startswith("/") else f"{SCIM}/{path}"
        return self.client.get(url, params or {}, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("post", path, data, **extra)

    def put(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("put", path, data, **extra)

    def patch(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("patch", path, data, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self._call("delete", path, None, **extra)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Any:
    """Each test starts with empty throttle and refusal-audit counters (they live in the
    process-local test cache, which would otherwise carry one test's failures into the next)."""
    from django.core.cache import caches

    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture(autouse=True)
def _pruning_due() -> None:
    """Each test starts with SAML pruning due (a process prunes at most once a minute)."""
    from django_provisioning.saml import replay

    replay.reset_pruning()


@pytest.fixture
def connection(db: Any) -> Connection:
    return ConnectionFactory(slug="acme", name="Acme", verified_domains=["example.com"])


@pytest.fixture
def other_connection(db: Any) -> Connection:
    return ConnectionFactory(slug="globex", name="Globex", verified_domains=["globex.test"])


@pytest.fixture
def scim(connection: Connection) -> ScimClient:
    _token, raw = issue_token(connection, name="tests")
    return ScimClient(connection, raw)


@pytest.fixture
def other_scim(other_connection: Connection) -> ScimClient:
    _token, raw = issue_token(other_connection, name="tests")
    return ScimClient(other_connection, raw)


def pytest_ignore_collect(collection_path: Any, config: Any) -> bool | None:
    """tests/test_custom_user.py runs only in the custom-user-model run (tox -e custom-user)."""
    from django.conf import settings

    if collection_path.name == "test_custom_user.py":
        return settings.AUTH_USER_MODEL != "testapp.EmailUser"
    return None
