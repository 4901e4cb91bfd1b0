"""fetch_metadata: the SSRF rules for a stranger's URL, and the limits for every URL.

No test reaches the internet. A local HTTPS server (throwaway TLS material in tests/keys,
see its README) stands in for every public host: the resolver is replaced by a table, and the
TCP connection by one that records the address it was asked for (the one that was checked)
and connects to the local server instead, while TLS still checks the certificate for the
URL's host name.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from django_provisioning.saml import fetch
from django_provisioning.saml.fetch import fetch_metadata, forbidden_address
from django_provisioning.saml.metadata_import import MetadataError

from .metadata_server import KEYS, Server, send, serve

PUBLIC = "93.184.215.14"  # any global address: the patched connection never dials it
BODY = b"<md:EntityDescriptor/>"


@pytest.fixture
def https() -> Iterator[Server]:
    yield from serve(tls=True)


@pytest.fixture
def plain() -> Iterator[Server]:
    yield from serve(tls=False)


class Net:
    """The resolver table, and the addresses connections were opened to."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.names: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.dialled: list[tuple[str, int]] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        self.dialled.append((address, port))
        return socket.create_connection(("127.0.0.1", self.server.port), timeout=timeout)


def trust_test_ca() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(KEYS / "tls-ca.crt"))


@pytest.fixture
def net(https: Server, monkeypatch: pytest.MonkeyPatch) -> Net:
    table = Net(https)
    table.names["public.test"] = [PUBLIC]
    monkeypatch.setattr(fetch, "resolve", table.resolve)
    monkeypatch.setattr(fetch, "connect", table.connect)
    monkeypatch.setattr(fetch, "ssl_context", trust_test_ca)
    return table


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Connections are recorded and refused: a refused URL must not be dialled at all."""
    dialled: list[tuple[str, int]] = []

    def connect(address: str, port: int, timeout: float) -> socket.socket:
        dialled.append((address, port))
        raise AssertionError(f"dialled {address}:{port}")

    monkeypatch.setattr(fetch, "connect", connect)
    return dialled


def limits(settings: Any, **values: Any) -> None:
    settings.DJANGO_PROVISIONING = {**settings.DJANGO_PROVISIONING, **values}


# --- a stranger's URL (untrusted=True) -----------------------------------------------------


def test_a_public_https_url_is_fetched_from_the_address_that_was_checked(net: Net) -> None:
    net.server.routes["/md?v=1"] = send(200, BODY, Content_Type="application/samlmetadata+xml")

    assert fetch_metadata("https://public.test/md?v=1", untrusted=True) == BODY
    assert net.dialled == [(PUBLIC, 443)]
    assert net.server.seen == [("/md?v=1", "public.test")]  # Host and SNI: the name


def test_dns_rebinding_cannot_swap_the_address(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is resolved once per hop; the connection goes to that answer, not a later one."""
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    monkeypatch.setattr(fetch, "resolve", lambda host, port: next(answers))
    net.server.routes["/md"] = send(200, BODY)

    assert fetch_metadata("https://public.test/md", untrusted=True) == BODY
    assert net.dialled == [(PUBLIC, 443)]


def test_http_is_refused(no_network: list[Any]) -> None:
    with pytest.raises(MetadataError, match=r"must use HTTPS; .* uses HTTP"):
        fetch_metadata("http://idp.example.com/metadata", untrusted=True)
    assert no_network == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/metadata",
        "https://127.1.2.3:8443/metadata",
        "https://[::1]/metadata",
        "https://10.0.0.8/metadata",
        "https://172.16.0.1/metadata",
        "https://192.168.1.1/metadata",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/metadata",
        "https://0.0.0.0/metadata",
        "https://[::ffff:127.0.0.1]/metadata",
        "https://[fe80::1]/metadata",
        "https://[fd00::1]/metadata",
        "https://[fec0::1]/metadata",  # site-local (deprecated, still routed inside sites)
        "https://224.0.0.1/metadata",
        "https://240.0.0.1/metadata",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(
    url: str, no_network: list[Any]
) -> None:
    with pytest.raises(MetadataError, match="private, local or reserved address"):
        fetch_metadata(url, untrusted=True)
    assert no_network == []


@pytest.mark.parametrize(
    "address",
    ["::ffff:10.0.0.1", "2002:a00:1::1", "64:ff9b::a00:1", "2001:0:4136:e378:8000:63bf:f5ff:fffe"],
    ids=["mapped", "6to4", "nat64", "teredo"],
)
def test_ipv4_hidden_in_ipv6_is_checked(address: str) -> None:
    assert forbidden_address(address)


def test_a_public_address_is_allowed() -> None:
    assert not forbidden_address(PUBLIC)
    assert not forbidden_address("2606:4700:4700::1111")
    assert forbidden_address("not-an-address")


@pytest.mark.parametrize(
    "answer", [["10.1.2.3"], ["169.254.169.254"], [PUBLIC, "127.0.0.1"]], ids=str
)
def test_a_name_that_resolves_to_a_private_address_is_refused(net: Net, answer: list[str]) -> None:
    net.names["intranet.test"] = answer

    with pytest.raises(MetadataError, match=r"'intranet.test' resolves to .*, a private"):
        fetch_metadata("https://intranet.test/metadata", untrusted=True)
    assert net.dialled == []


def test_a_redirect_to_a_private_address_is_refused(net: Net) -> None:
    net.names["metadata.internal.test"] = ["169.254.169.254"]
    net.server.routes["/md"] = send(302, Location="https://metadata.internal.test/latest/")

    with pytest.raises(MetadataError, match=re.escape("resolves to 169.254.169.254")):
        fetch_metadata("https://public.test/md", untrusted=True)
    assert net.dialled == [(PUBLIC, 443)]  # the first hop only
    assert net.lookups == ["public.test", "metadata.internal.test"]


def test_a_redirect_to_http_is_refused(net: Net) -> None:
    net.server.routes["/md"] = send(301, Location="http://public.test/md")

    with pytest.raises(MetadataError, match="must use HTTPS"):
        fetch_metadata("https://public.test/md", untrusted=True)
    assert len(net.dialled) == 1


def test_relative_redirects_are_followed_and_checked(net: Net) -> None:
    net.server.routes["/old"] = send(308, Location="/new")
    net.server.routes["/new"] = send(200, BODY)

    assert fetch_metadata("https://public.test/old", untrusted=True) == BODY
    assert [path for path, _host in net.server.seen] == ["/old", "/new"]
    assert net.lookups == ["public.test", "public.test"]


def test_redirects_are_capped(net: Net) -> None:
    net.server.routes["/loop"] = send(302, Location="/loop")

    with pytest.raises(MetadataError, match="redirects more than 5 times"):
        fetch_metadata("https://public.test/loop", untrusted=True)
    assert len(net.server.seen) == 6


def test_a_certificate_for_another_name_is_refused(net: Net) -> None:
    net.names["other.test"] = [PUBLIC]  # the server's certificate does not name it

    with pytest.raises(MetadataError, match=re.escape("certificate of other.test is not trusted")):
        fetch_metadata("https://other.test/md", untrusted=True)
    assert net.server.seen == []


def test_credentials_in_the_url_are_refused(no_network: list[Any]) -> None:
    with pytest.raises(MetadataError, match="user name or password"):
        fetch_metadata("https://admin:pw@public.test/md", untrusted=True)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://public.test/md", "https://", "x"])
def test_other_schemes_are_refused(url: str, no_network: list[Any]) -> None:
    with pytest.raises(MetadataError, match="not an http:// or https:// URL"):
        fetch_metadata(url, untrusted=True)


def test_an_unknown_host_is_a_clear_error(net: Net) -> None:
    with pytest.raises(MetadataError, match=re.escape("'nowhere.test' cannot be resolved")):
        fetch_metadata("https://nowhere.test/md", untrusted=True)


def test_an_error_status_is_named(net: Net) -> None:
    with pytest.raises(MetadataError, match="answered HTTP 404, not the metadata"):
        fetch_metadata("https://public.test/missing", untrusted=True)


# --- the DEBUG-only allowlist -----------------------------------------------------------------


@pytest.fixture
def dev_idp(net: Net, settings: Any) -> Net:
    """The demo's development IdP: idp.test on 127.0.0.1, allowlisted."""
    net.names["idp.test"] = ["127.0.0.1"]
    net.server.routes["/md"] = send(200, BODY)
    limits(settings, METADATA_FETCH_ALLOWED_HOSTS=["idp.test"])
    return net


def test_the_allowlist_lets_the_dev_idp_through_while_debug_is_on(
    dev_idp: Net, settings: Any
) -> None:
    settings.DEBUG = True

    assert fetch_metadata("https://idp.test/md", untrusted=True) == BODY
    assert dev_idp.dialled == [("127.0.0.1", 443)]


def test_the_allowlist_is_ignored_when_debug_is_off(dev_idp: Net, settings: Any) -> None:
    settings.DEBUG = False

    with pytest.raises(MetadataError, match=re.escape("resolves to 127.0.0.1")):
        fetch_metadata("https://idp.test/md", untrusted=True)
    with pytest.raises(MetadataError, match="must use HTTPS"):
        fetch_metadata("http://idp.test/md", untrusted=True)
    assert dev_idp.dialled == []


def test_the_allowlist_names_a_host_and_port(plain: Server, settings: Any) -> None:
    """host:port entries; with them, http:// (the demo IdP serves plain HTTP)."""
    plain.routes["/md"] = send(200, BODY)
    settings.DEBUG = True
    limits(settings, METADATA_FETCH_ALLOWED_HOSTS=[f"127.0.0.1:{plain.port}"])

    assert fetch_metadata(f"http://127.0.0.1:{plain.port}/md", untrusted=True) == BODY
    with pytest.raises(MetadataError, match="must use HTTPS"):
        fetch_metadata(f"http://127.0.0.1:{plain.port + 1}/md", untrusted=True)


def test_an_allowlisted_host_cannot_redirect_elsewhere_private(dev_idp: Net, settings: Any) -> None:
    settings.DEBUG = True
    dev_idp.names["db.internal.test"] = ["10.0.0.5"]
    dev_idp.server.routes["/jump"] = send(302, Location="https://db.internal.test/")

    with pytest.raises(MetadataError, match=re.escape("resolves to 10.0.0.5")):
        fetch_metadata("https://idp.test/jump", untrusted=True)
    assert len(dev_idp.dialled) == 1


# --- the operator's URL (untrusted=False), and the limits of both ----------------------------


def test_the_operators_command_may_fetch_any_url(plain: Server) -> None:
    plain.routes["/md"] = send(200, BODY)

    assert fetch_metadata(f"http://127.0.0.1:{plain.port}/md", untrusted=False) == BODY


@pytest.mark.parametrize("untrusted", [True, False])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_body_over_the_size_cap_is_refused(
    net: Net, settings: Any, untrusted: bool, declared: bool
) -> None:
    limits(settings, METADATA_MAX_BYTES=1000)
    if declared:
        net.server.routes["/big"] = send(200, b"x" * 1001)
    else:

        def endless(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Connection", "close")
            handler.end_headers()
            for _ in range(100):
                handler.wfile.write(b"x" * 500)

        net.server.routes["/big"] = endless
    net.server.routes["/fits"] = send(200, b"x" * 1000)

    with pytest.raises(MetadataError, match="larger than 1000 bytes"):
        fetch_metadata("https://public.test/big", untrusted=untrusted)
    assert fetch_metadata("https://public.test/fits", untrusted=untrusted) == b"x" * 1000


@pytest.mark.parametrize("untrusted", [True, False])
def test_a_server_that_does_not_answer_times_out(net: Net, settings: Any, untrusted: bool) -> None:
    limits(settings, METADATA_FETCH_TIMEOUT=0.3)
    release = threading.Event()
    net.server.routes["/slow"] = lambda handler: release.wait(5)

    started = time.monotonic()
    with pytest.raises(MetadataError, match=r"did not answer within 0.3 seconds"):
        fetch_metadata("https://public.test/slow", untrusted=untrusted)
    release.set()
    assert time.monotonic() - started < 2


def test_a_server_that_trickles_is_cut_off_at_the_deadline(net: Net, settings: Any) -> None:
    limits(settings, METADATA_FETCH_TIMEOUT=0.5)

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        for _ in range(100):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)

    net.server.routes["/trickle"] = trickle
    started = time.monotonic()
    with pytest.raises(MetadataError, match=re.escape("did not answer within 0.5 seconds")):
        fetch_metadata("https://public.test/trickle", untrusted=False)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "url",
    [
        "https://public.test/a b",
        "https://public.test/x\r\nX-Injected: 1",
        "https://public.test/\x00",
    ],
    ids=["space", "crlf", "nul"],
)
def test_spaces_and_control_characters_are_refused(net: Net, url: str) -> None:
    with pytest.raises(MetadataError, match="spaces or control characters"):
        fetch_metadata(url, untrusted=True)
    assert net.dialled == []


def test_non_ascii_paths_and_hosts_are_encoded(net: Net) -> None:
    net.names["xn--bcher-kva.test"] = [PUBLIC]
    net.server.routes["/caf%C3%A9?q=%C3%A9"] = send(200, BODY)

    with pytest.raises(MetadataError, match="not trusted"):  # the certificate names no such host
        fetch_metadata("https://bücher.test/café?q=é", untrusted=True)
    assert fetch_metadata("https://public.test/café?q=é", untrusted=True) == BODY
    assert net.lookups == ["xn--bcher-kva.test", "public.test"]


def test_a_server_that_trickles_its_headers_is_cut_off_at_the_deadline(
    net: Net, settings: Any
) -> None:
    """Each byte within the per-read timeout, the headers never ending: the whole fetch still
    ends at METADATA_FETCH_TIMEOUT (a worker is not held for hours by a stranger's URL)."""
    limits(settings, METADATA_FETCH_TIMEOUT=0.5)
    stop = threading.Event()

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
        while not stop.is_set():
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)

    net.server.routes["/headers"] = trickle
    started = time.monotonic()
    try:
        with pytest.raises(MetadataError, match=re.escape("did not answer within 0.5 seconds")):
            fetch_metadata("https://public.test/headers", untrusted=True)
        assert time.monotonic() - started < 2
    finally:
        stop.set()


def test_a_body_shorter_than_its_content_length_is_refused(net: Net) -> None:
    """A connection closed before the declared length: a cut-off document, not the metadata."""
    net.server.routes["/short"] = send(200, BODY[:10], Content_Length=str(len(BODY)))
    with pytest.raises(MetadataError, match="ended before"):
        fetch_metadata("https://public.test/short", untrusted=True)
