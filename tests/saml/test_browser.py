"""A real browser proves the two-step ACS works under ``SESSION_COOKIE_SAMESITE = "Lax"``.

The service provider runs on ``http://localhost:<port>`` (Django in a threaded server) and a tiny
identity provider on ``http://127.0.0.1:<port2>``: a different site, so the IdP page's
auto-submitted POST to the ACS is cross-site and headless Chromium does not send the Lax
cookie that holds the AuthnRequest id (``dp_saml_requests``) with it. The sign-in must still
finish, in the same browser, and leave it a Lax session cookie.

Needs Debian's ``chromium`` and ``chromium-driver``: without them it is skipped on a developer's
machine and fails in CI (``tests/tools.py``), so CI never passes without it.
"""

from __future__ import annotations

import html
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings as django_settings
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from django_provisioning.saml import state
from tests.factories import ConnectionFactory
from tests.tools import headless_chromium

from .idp import IDP_ENTITY_ID, TestIdP, b64, pem

pytestmark = pytest.mark.browser


class _IdPHandler(BaseHTTPRequestHandler):
    idp: TestIdP
    sp_base: str
    posts: list[str]

    def do_GET(self) -> None:
        request, relay_state = self.idp.parse_login_redirect(self.path)
        xml = self.idp.response_xml(
            sp_entity_id=f"{self.sp_base}/sso/acme/metadata/",
            acs_url=request.assertion_consumer_service_url,
            in_response_to=request.id,
        )
        page = (
            "<!DOCTYPE html><html><body onload='document.forms[0].submit()'>"
            f"<form method='post' action='{html.escape(request.assertion_consumer_service_url)}'>"
            f"<input type='hidden' name='SAMLResponse' value='{b64(xml)}'>"
            f"<input type='hidden' name='RelayState' value='{html.escape(relay_state)}'>"
            "<noscript><button>Continue</button></noscript></form></body></html>"
        ).encode()
        self.posts.append(request.id)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


SEEN: list[tuple[str, str, bool]] = []


def _recording(app: Any) -> Any:
    """WSGI middleware noting (method, path, request-id cookie sent?) of every request."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        has_cookie = f"{state.REQUESTS_COOKIE}=" in environ.get("HTTP_COOKIE", "")
        SEEN.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], has_cookie))
        return app(environ, start_response)

    return wrapped


@pytest.fixture
def sp_base(transactional_db: Any) -> Iterator[str]:
    """The SP: Django in a threaded server on localhost (the tests' settings have no
    STATIC_URL, which pytest-django's live_server needs, so no static handler here)."""
    from django.db import connections
    from django.test.testcases import LiveServerThread

    shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    for conn in shared.values():
        conn.inc_thread_sharing()
    SEEN.clear()
    thread = LiveServerThread("localhost", _recording, connections_override=shared)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://localhost:{thread.port}"
    finally:
        thread.terminate()
        for conn in shared.values():
            conn.dec_thread_sharing()


@pytest.fixture
def chrome() -> Iterator[webdriver.Chrome]:
    driver = headless_chromium()
    try:
        yield driver
    finally:
        driver.quit()


def test_sign_in_through_a_cross_site_idp_with_lax_cookies(
    sp_base: str, chrome: webdriver.Chrome
) -> None:
    assert django_settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert urlparse(sp_base).hostname == "localhost"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IdPHandler)
    idp_base = f"http://127.0.0.1:{server.server_address[1]}"
    ConnectionFactory(
        slug="acme",
        idp_entity_id=IDP_ENTITY_ID,
        idp_sso_url=f"{idp_base}/sso",
        idp_x509_certs=[pem("idp.crt")],
    )
    with urllib.request.urlopen(f"{sp_base}/sso/acme/metadata/") as response:
        metadata = response.read().decode()
    handler = type(
        "Handler",
        (_IdPHandler,),
        {"idp": TestIdP(metadata, sso_url=f"{idp_base}/sso"), "sp_base": sp_base, "posts": []},
    )
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        chrome.get(f"{sp_base}/home/")
        assert "home: anonymous" in chrome.find_element(By.TAG_NAME, "body").text
        session_before = chrome.get_cookie("sessionid")
        assert session_before is None

        chrome.get(f"{sp_base}/sso/acme/login/?next=/home/%3Fwelcome%3D1")
        WebDriverWait(chrome, 20).until(lambda d: urlparse(d.current_url).path == "/home/")
        assert ("GET", "/sso/acme/login/", False) in SEEN

        assert handler.posts, "the browser never reached the IdP"
        assert chrome.current_url == f"{sp_base}/home/?welcome=1"
        assert chrome.find_element(By.TAG_NAME, "body").text == "home: alice@example.com"
        cookie = chrome.get_cookie("sessionid")
        assert cookie is not None and cookie.get("sameSite") == "Lax"
        # The IdP's cross-site POST came without the Lax cookie; the same-site GET with it.
        assert ("POST", "/sso/acme/acs/", False) in SEEN
        assert ("GET", "/sso/acme/acs/finish/", True) in SEEN
        assert chrome.get_cookie(state.REQUESTS_COOKIE) is None  # its one id used: deleted
    finally:
        server.shutdown()
        server.server_close()
