"""Fetch an identity provider's metadata XML from a URL, safely when the URL is a stranger's.

Two callers: the operator's ``import_idp_metadata`` / ``refresh_idp_metadata`` commands
(``untrusted=False``: any ``http``/``https`` URL) and the setup portal, where the URL comes
from someone without an account (``untrusted=True``). A server-side request on a stranger's
behalf must not reach the product's own network (server-side request forgery), so then:

* only ``https://`` URLs;
* the host is resolved once, here, and refused when *any* of its addresses is private,
  loopback, link-local, site-local (IPv6), shared (CGNAT), reserved, multicast, unspecified
  or otherwise not global (an IPv4 address embedded in IPv6 — mapped, 6to4, Teredo, NAT64 —
  is checked too);
* the connection is made to the address that was checked (TLS still verifies the certificate
  and sends SNI and ``Host`` for the host name), so a DNS answer that changes between the
  check and the connection (DNS rebinding) cannot reach another address;
* redirects are followed by hand (at most :data:`MAX_REDIRECTS`), each target checked again;
* ``DJANGO_PROVISIONING["METADATA_FETCH_ALLOWED_HOSTS"]`` lifts these rules (and allows
  ``http://``) for the hosts it names, but only while ``settings.DEBUG`` is true: the demo's
  development IdP on 127.0.0.1.

Both callers: ``METADATA_FETCH_TIMEOUT`` seconds for each network wait *and* for the whole
fetch (a server that trickles bytes is cut off), at most ``METADATA_MAX_BYTES`` of body, no
compression (so no decompression bomb), no proxy, no cookies. Every failure is a
:class:`~.metadata_import.MetadataError` whose message an administrator can act on.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings

from ..conf import provisioning_settings
from .metadata_import import MetadataError

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 65_536
HEADERS = {
    "Accept": "application/samlmetadata+xml, application/xml, text/xml;q=0.9, */*;q=0.1",
    "Accept-Encoding": "identity",
    "User-Agent": "django-provisioning metadata fetcher",
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_SAFE = "/?&=%:@!$'()*+,;~-._"


def resolve(host: str, port: int) -> list[str]:
    """Every address *host* resolves to (tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def connect(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to *address* itself, never to a name (tests replace this function)."""
    return socket.create_connection((address, port), timeout=timeout)


def ssl_context() -> ssl.SSLContext:
    """The TLS settings: the system's trusted CAs, host name checked (tests replace it)."""
    return ssl.create_default_context()


def forbidden_address(address: str) -> bool:
    """True when *address* is not a public internet address (or is not an address at all)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    embedded: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return any(
        one.is_private
        or one.is_loopback
        or one.is_link_local
        or one.is_reserved
        or one.is_multicast
        or one.is_unspecified
        or (isinstance(one, ipaddress.IPv6Address) and one.is_site_local)
        or not one.is_global
        for one in embedded
    )


def _allowlisted(host: str, port: int) -> bool:
    """True for a host of ``METADATA_FETCH_ALLOWED_HOSTS`` while ``DEBUG`` is on (only then)."""
    if not settings.DEBUG:
        return False
    entries = provisioning_settings.METADATA_FETCH_ALLOWED_HOSTS or []
    allowed = {str(entry).strip().lower() for entry in entries}
    named = f"[{host}]" if ":" in host else host
    return bool({host, named, f"{named}:{port}"} & allowed)


class _Deadline:
    """Cuts a connection off at the fetch's deadline, wherever it waits.

    The socket timeout bounds each wait, not their sum: a server that sends its status line,
    headers or TLS handshake a byte at a time within each timeout would hold the request (and
    a worker) for hours. At the deadline a timer shuts the socket down, which ends the wait.
    """

    def __init__(self, conn: http.client.HTTPConnection, deadline: float) -> None:
        self.conn, self.lock, self.done, self.fired = conn, threading.Lock(), False, False
        self.timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._cut)
        self.timer.daemon = True

    def _cut(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            for sock in (self.conn.sock, getattr(self.conn, "raw", None)):
                if sock is not None and sock.fileno() != -1:
                    try:
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                    except OSError:
                        pass

    def __enter__(self) -> _Deadline:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:  # before the connection closes: never a shutdown of a reused socket
            self.done = True
        self.timer.cancel()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to an address chosen beforehand; ``Host`` stays the URL's host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address, self.wait = address, timeout

    def connect(self) -> None:
        self.sock = self.raw = connect(self.address, self.port, self.wait)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address chosen beforehand; SNI and the certificate check use the host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl_context())
        self.address, self.wait = address, timeout

    def connect(self) -> None:
        raw = self.raw = connect(self.address, self.port, self.wait)
        try:
            self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]
        except BaseException:
            raw.close()
            raise


def _target(url: str, *, untrusted: bool) -> tuple[str, str, int, str, list[str]]:
    """(scheme, host, port, path?query, addresses to try) of *url*, or MetadataError."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise MetadataError(f"{url!r} is not a valid URL: {exc}.") from exc
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("http", "https") or not host:
        raise MetadataError(f"{url!r} is not an http:// or https:// URL.")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise MetadataError(f"{url!r} is not a valid URL: bad host name.") from exc
    if _UNSAFE.search(host) or _UNSAFE.search(parts.path + parts.query):
        raise MetadataError(
            f"{url!r} is not a valid URL: it contains spaces or control characters."
        )
    port = port or (443 if scheme == "https" else 80)
    # Non-ASCII in the path or query is sent percent-encoded (HTTP request lines are ASCII).
    path = quote(parts.path or "/", safe=_SAFE) + (
        f"?{quote(parts.query, safe=_SAFE)}" if parts.query else ""
    )
    exempt = untrusted and _allowlisted(host, port)
    if untrusted and not exempt:
        if scheme != "https":
            raise MetadataError(
                f"The metadata URL must use HTTPS; {url!r} uses {scheme.upper()}, which anyone "
                "on the way could change."
            )
        if parts.username is not None or parts.password is not None:
            raise MetadataError("The metadata URL must not contain a user name or password.")
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise MetadataError(f"The host {host!r} cannot be resolved: {exc}.") from exc
    if not addresses:
        raise MetadataError(f"The host {host!r} cannot be resolved.")
    if untrusted and not exempt:
        refused = [address for address in addresses if forbidden_address(address)]
        if refused:
            raise MetadataError(
                f"The host {host!r} resolves to {refused[0]}, a private, local or reserved "
                "address; the metadata must be served from a public address."
            )
    return scheme, host, port, path, addresses


def _get(
    scheme: str, host: str, port: int, path: str, address: str, deadline: float, timeout: float
) -> tuple[int, str | None, bytes]:
    """One GET to *address*: (status, Location header, body), the body within the size cap."""
    limit = int(provisioning_settings.METADATA_MAX_BYTES)
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = cls(host, port, address=address, timeout=timeout)
    watch = _Deadline(conn, deadline)
    try:
        with watch:
            return _exchange(conn, path, limit, deadline)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if watch.fired:
            raise TimeoutError from exc
        raise
    finally:
        conn.close()


def _exchange(
    conn: http.client.HTTPConnection, path: str, limit: int, deadline: float
) -> tuple[int, str | None, bytes]:
    conn.request("GET", path, headers=HEADERS)
    response = conn.getresponse()
    if response.status in REDIRECT_STATUSES:
        return response.status, response.getheader("Location"), b""
    if response.status != 200:
        return response.status, None, b""
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise MetadataError(_too_big(limit))
    body = bytearray()
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        # read1: what has arrived (one system call), so a trickle meets the deadline.
        chunk = response.read1(min(CHUNK, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if len(body) > limit:
            raise MetadataError(_too_big(limit))
    if time.monotonic() > deadline:
        raise TimeoutError  # cut off at the deadline: the body may be short
    if response.length:  # read1 does not raise IncompleteRead: the bytes still owed
        raise MetadataError(
            f"The metadata ended before its declared length ({len(body)} bytes received, "
            f"{len(body) + response.length} declared)."
        )
    return 200, None, bytes(body)


def _too_big(limit: int) -> str:
    return f"The metadata is larger than {limit} bytes (METADATA_MAX_BYTES)."


def fetch_metadata(url: str, *, untrusted: bool) -> bytes:
    """The body of *url* (an IdP's metadata XML, not yet parsed); MetadataError otherwise.

    *untrusted*: the URL comes from someone without an account (the setup portal), so the
    server-side request forgery rules of this module apply. The operator's commands pass False.
    """
    timeout = float(provisioning_settings.METADATA_FETCH_TIMEOUT)
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, path, addresses = _target(current, untrusted=untrusted)
        status, location, body = _attempt(scheme, host, port, path, addresses, deadline, timeout)
        if status == 200:
            return body
        if location is None:
            raise MetadataError(f"{current} answered HTTP {status}, not the metadata.")
        if status in REDIRECT_STATUSES and not location.strip():
            raise MetadataError(f"{current} redirects nowhere (empty Location).")
        current = urljoin(current, location.strip())
    raise MetadataError(f"{url} redirects more than {MAX_REDIRECTS} times.")


def _attempt(
    scheme: str,
    host: str,
    port: int,
    path: str,
    addresses: list[str],
    deadline: float,
    timeout: float,
) -> tuple[int, str | None, bytes]:
    """:func:`_get` from each of *addresses* in turn until one connects."""
    failure: BaseException | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return _get(scheme, host, port, path, address, deadline, min(timeout, remaining))
        except MetadataError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise MetadataError(
                f"The certificate of {host} is not trusted: {exc.verify_message or exc}."
            ) from exc
        except TimeoutError as exc:  # socket.timeout too (an alias since Python 3.10)
            failure = exc
            break
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failure = exc
    if failure is None or isinstance(failure, TimeoutError):
        raise MetadataError(
            f"{host} did not answer within {timeout:g} seconds (METADATA_FETCH_TIMEOUT)."
        )
    reason = getattr(failure, "strerror", None) or str(failure) or type(failure).__name__
    raise MetadataError(f"Cannot fetch the metadata from {host}: {reason}.")
