"""Test sign-in: a real SAML sign-in against a connection's IdP that signs no one in.

What a setup page (the portal) calls: :func:`begin_test_sign_in` sends the browser to the IdP
with an AuthnRequest, exactly as the login view does, and :func:`pop_test_result` reads what
came back, once the browser is back on *return_to*: a :class:`TestSignInResult` with what
arrived (NameID, attributes, groups) and how it maps onto an account, or why it failed, in plain
words with the fix (:mod:`.signin_reasons`).

*Recognising a test.* The ACS's first step receives the IdP's cross-site POST without the
session cookie, so a test's AuthnRequest ID says itself that it is one: ``_dpt``, the time it
was issued, a nonce and an HMAC (``SECRET_KEY``) of the three and the connection. No one can
make such an ID for another connection or another time, and only this module makes them. A
response whose InResponseTo is one (an IdP-initiated response has none, so it is never a
test) goes through every check of a real sign-in (:func:`.validation.validate_response`, the
assertion replay cache), and its outcome, success or failure, is handed to the second step in a
pending row marked ``is_test``. The first response to answer a test request consumes it (the
replay table, ``test:`` + the ID): a second answer is refused and writes nothing.

*The second step* takes the test request out of the session that started it (the session
keeps its tests apart from its real sign-ins, so a test request ID can never complete a real
sign-in, nor a real one a test), builds the preview (:mod:`.signin_preview`: it reads, never
writes: no user, link row, group, session record or audit event) and stores the result in
this browser's session under the connection's id, then redirects to *return_to*. Nobody is
logged in, and the assertion, consumed, can no longer sign anyone in for real.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import urlencode
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request

from ..conf import provisioning_settings
from ..db import is_unavailable
from . import redirects, replay, state
from .config import URL_NAMESPACE, request_data
from .errors import SamlError
from .signin_preview import preview
from .signin_reasons import Failure, expired_request, explain
from .validation import saml_settings, validate_response

if TYPE_CHECKING:
    from django.http import HttpRequest
    from lxml import etree

    from ..models import Connection

__all__ = ["TestSignInResult", "begin_test_sign_in", "pop_test_result"]

logger = logging.getLogger("django_provisioning.saml")

SESSION_TESTS = "_dp_saml_test_requests"
SESSION_RESULTS = "_dp_saml_test_results"
#: Test sign-ins a browser session may have open at once (oldest dropped first).
MAX_OPEN_TESTS = 5
_SALT = "django_provisioning.saml.test_signin"
_ID = re.compile(r"_dpt([0-9a-f]{1,12})_([0-9a-f]{32})_([0-9a-f]{32})\Z")


@dataclass
class TestSignInResult:
    """What a test sign-in found: what arrived, how it maps, or why it failed.

    ``fields``: the user model fields a real sign-in would set, with their values (for an
    existing account without ``jit_update``: none). ``created``: a new account would be made;
    ``linked_user``: else the existing account it reaches (its local username). ``groups``:
    every value of the connection's groups attribute; ``groups_joined``: the local groups
    of those the connection syncs. On failure ``ok`` is False, ``reason`` says what went
    wrong in plain words and ``fix`` what to change, and ``code`` is the SAML error code
    (docs/saml.rst); what arrived is filled in as far as it is known.
    """

    __test__ = False  # not a pytest test class

    ok: bool
    name_id: str = ""
    name_id_format: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    groups_joined: list[str] = field(default_factory=list)
    created: bool = False
    linked_user: str | None = None
    reason: str = ""
    fix: str = ""
    code: str = ""

    @classmethod
    def failed(cls, failure: Failure, **arrived: Any) -> TestSignInResult:
        return cls(ok=False, reason=failure.reason, fix=failure.fix, code=failure.code, **arrived)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TestSignInResult:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TestRequest:
    """A test sign-in's AuthnRequest ID, as recognised in a response's InResponseTo."""

    __test__ = False

    request_id: str
    issued_at: int

    @property
    def age(self) -> float:
        return time.time() - self.issued_at


def _mac(connection: Connection, issued: str, nonce: str) -> str:
    return salted_hmac(_SALT, f"{connection.pk}|{issued}|{nonce}", algorithm="sha256").hexdigest()[
        :32
    ]


def new_request_id(connection: Connection) -> str:
    """A fresh test AuthnRequest ID for *connection* (an xs:ID: letters, digits, ``_``)."""
    issued, nonce = format(int(time.time()), "x"), secrets.token_hex(16)
    return f"_dpt{issued}_{nonce}_{_mac(connection, issued, nonce)}"


def recognize(connection: Connection, in_response_to: str | None) -> TestRequest | None:
    """The test request *in_response_to* names, if it is one of *connection*'s, else None."""
    match = _ID.match(in_response_to or "")
    if match is None:
        return None
    issued, nonce, mac = match.groups()
    if not constant_time_compare(mac, _mac(connection, issued, nonce)):
        return None
    return TestRequest(str(in_response_to), int(issued, 16))


def _ttl() -> int:
    return int(provisioning_settings.SAML_REQUEST_TTL)


def _key(connection: Connection) -> str:
    return str(connection.pk)


def _store_result(request: HttpRequest, connection: Connection, result: TestSignInResult) -> None:
    results = dict(request.session.get(SESSION_RESULTS) or {})
    data = asdict(result)
    results[_key(connection)] = data
    request.session[SESSION_RESULTS] = results


def _failed_at_start(
    request: HttpRequest, connection: Connection, error: SamlError, return_to: str
) -> HttpResponse:
    _store_result(request, connection, TestSignInResult.failed(explain(error, request, connection)))
    return HttpResponseRedirect(return_to)


def begin_test_sign_in(
    request: HttpRequest, connection: Connection, *, return_to: str
) -> HttpResponse:
    """Send this browser to *connection*'s IdP for a test sign-in; come back to *return_to*.

    *return_to* must be a path on this site (``ValueError`` otherwise). Any earlier result
    for this connection in this session is dropped. When the connection cannot send an
    AuthnRequest (no IdP settings yet, settings python3-saml refuses), no IdP is involved:
    the failure is stored as the result and the browser goes straight to *return_to*.
    """
    return_to = redirects.same_origin_path(request, return_to)
    pop_test_result(request, connection)
    if not (connection.idp_entity_id and connection.idp_sso_url and connection.idp_x509_certs):
        error = SamlError("not_configured", "connection has no IdP entity id, SSO URL or cert")
        return _failed_at_start(request, connection, error, return_to)
    request_id = new_request_id(connection)
    try:
        auth = OneLogin_Saml2_Auth(
            request_data(request), old_settings=saml_settings(connection, request)
        )
    except SamlError as error:
        return _failed_at_start(request, connection, error, return_to)

    class _Request(OneLogin_Saml2_Authn_Request):  # type: ignore[misc]
        def _generate_request_id(self) -> str:
            return request_id

    auth.authn_request_class = _Request
    try:
        # No RelayState of ours: where to come back to stays in the session.
        url = auth.login(return_to="")
    except Exception as exc:  # signing the request without a usable SP key, say
        refused = SamlError("misconfigured", f"AuthnRequest: {exc.__class__.__name__}: {exc}")
        return _failed_at_start(request, connection, refused, return_to)
    _remember(request, connection, request_id, return_to)
    return HttpResponseRedirect(url)


def pop_test_result(request: HttpRequest, connection: Connection) -> TestSignInResult | None:
    """The result of this browser's last test sign-in of *connection* (once), or None."""
    results = dict(request.session.get(SESSION_RESULTS) or {})
    data = results.pop(_key(connection), None)
    if data is None:
        return None
    request.session[SESSION_RESULTS] = results
    return TestSignInResult.from_data(data) if isinstance(data, dict) else None


# ---------------------------------------------------------------- the browser session


def _open_tests(request: HttpRequest) -> dict[str, dict[str, Any]]:
    """This session's test requests, those too old to be answered dropped."""
    now = time.time()
    stored = request.session.get(SESSION_TESTS) or {}
    return {
        k: v
        for k, v in stored.items()
        if isinstance(v, dict) and now - v.get("issued_at", 0) < 2 * _ttl()
    }


def _remember(
    request: HttpRequest, connection: Connection, request_id: str, return_to: str
) -> None:
    tests = _open_tests(request)
    tests[request_id] = {
        "connection": _key(connection),
        "issued_at": time.time(),
        "return_to": return_to,
    }
    newest = sorted(tests.items(), key=lambda item: item[1]["issued_at"])[-MAX_OPEN_TESTS:]
    request.session[SESSION_TESTS] = dict(newest)


def _claim(request: HttpRequest, connection: Connection, request_id: str) -> str:
    """Take test request *request_id* out of this session; return its *return_to*, or refuse."""
    tests = _open_tests(request)
    entry = tests.pop(request_id, None)
    request.session[SESSION_TESTS] = tests
    if entry is None or entry.get("connection") != _key(connection):
        raise SamlError(
            "session_mismatch", "InResponseTo is not an open test sign-in of this session"
        )
    return str(entry["return_to"])


# ---------------------------------------------------------------- the ACS's two steps


def receive(
    request: HttpRequest, connection: Connection, test: TestRequest, root: etree._Element
) -> str:
    """ACS step 1 for a response to *test*: every check of a real sign-in; return the key.

    A failure is not refused here but explained and handed to the second step, which shows it
    to the browser that started the test. Refused here (the normal error page): a request
    answered before, or one too old for its answer to be kept (twice ``SAML_REQUEST_TTL``).
    """
    if test.age >= 2 * _ttl():
        raise SamlError("session_mismatch", "test sign-in request too old to be answered")
    expires = dt.datetime.fromtimestamp(test.issued_at + 2 * _ttl(), tz=dt.timezone.utc)
    replay.consume_test_request(connection, test.request_id, expires)
    data: dict[str, Any]
    if test.age >= _ttl():
        data = {"failure": asdict(expired_request())}
    else:
        try:
            # Checked, though a test does not use it: a real sign-in would refuse it.
            redirects.checked_next(request, request.POST.get("RelayState"), what="RelayState")
            validated = validate_response(connection, request, root=root)
            assert validated.expires_at is not None
            replay.consume_assertion(connection, validated.assertion_id, validated.expires_at)
            data = validated.as_data()
        except SamlError as error:
            data = {"failure": asdict(explain(error, request, connection, root))}
        except Exception as exc:
            if is_unavailable(exc):
                raise  # this site's passing trouble: "try again", not the IdP's fault
            logger.exception("SAML test sign-in check failed unexpectedly (%r)", connection.slug)
            unexpected = SamlError("invalid", f"unexpected {exc.__class__.__name__}")
            data = {"failure": asdict(explain(unexpected, request, connection, root))}
    return state.store_pending(connection, in_response_to=test.request_id, data=data, is_test=True)


def finish(
    request: HttpRequest, connection: Connection, pending: state.PendingLogin
) -> HttpResponse:
    """ACS step 2 for a test: in the session that started it, store the result; no login."""
    return_to = _claim(request, connection, pending.in_response_to)
    failure = pending.data.get("failure")
    if isinstance(failure, dict):
        result = TestSignInResult.failed(Failure(**failure))
    else:
        result = TestSignInResult(**preview(request, connection, pending.data))
    _store_result(request, connection, result)
    logger.info(
        "SAML test sign-in via connection %r: %s",
        connection.slug,
        "ok" if result.ok else f"failed ({result.code})",
    )
    return HttpResponseRedirect(return_to)


def finish_url(connection: Connection, key: str) -> str:
    finish_path = reverse(f"{URL_NAMESPACE}:acs-finish", args=[connection.slug])
    return f"{finish_path}?{urlencode({'key': key})}"
