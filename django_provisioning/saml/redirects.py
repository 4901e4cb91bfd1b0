"""Where a browser may be sent after sign-in or sign-out: this site, or allowed hosts only.

``next`` (given to the login view) and ``RelayState`` (echoed or set by the identity provider)
are attacker-controlled. A value that names a place (a path, or a URL with a scheme or a
``//`` host) must pass Django's ``url_has_allowed_host_and_scheme`` with the request's host
plus ``SAML_ALLOWED_REDIRECT_HOSTS``, and https when the request is secure; otherwise the
exchange is refused. A RelayState that is an opaque token (some IdPs send one) is ignored.
A value with a control character inside (after the surrounding whitespace is stripped) is
refused whatever it looks like: browsers drop tabs and newlines from URLs (``/\t/evil`` is
``//evil`` to them), and a NUL cannot even be stored in a PostgreSQL text column.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.conf import settings
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from ..conf import provisioning_settings
from .errors import SamlError

if TYPE_CHECKING:
    from django.http import HttpRequest

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Longest ``next`` or RelayState accepted, in UTF-8 bytes.
MAX_URL_BYTES = 2048


def is_safe(request: HttpRequest, url: str) -> bool:
    """True when *url* stays on this site or an allowed host (https if we are on https)."""
    hosts = {request.get_host(), *provisioning_settings.SAML_ALLOWED_REDIRECT_HOSTS}
    return url_has_allowed_host_and_scheme(
        url, allowed_hosts=hosts, require_https=request.is_secure()
    )


def looks_like_url(value: str) -> bool:
    """A value naming a place (a path or a URL), as opposed to an opaque RelayState token."""
    stripped = value.strip()
    return stripped.startswith(("/", "\\")) or ":" in stripped or "." in stripped


def checked_next(request: HttpRequest, value: str | None, *, what: str = "next") -> str:
    """*value* if it is a safe place to go, "" if empty or opaque; refuse an unsafe one."""
    value = (value or "").strip()
    if not value:
        return ""
    if _CONTROL.search(value):
        raise SamlError("unsafe_redirect", f"{what} with a control character")
    if not looks_like_url(value):
        return ""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_URL_BYTES:
        # Percent-encoded into the identity provider's URL, a longer one could exceed Django's
        # limit on a redirect's length (16,384 characters) and fail the sign-in unexplained.
        raise SamlError("unsafe_redirect", f"{what} longer than {MAX_URL_BYTES} bytes")
    if not is_safe(request, value):
        raise SamlError("unsafe_redirect", f"{what} to a host that is not allowed")
    return value


def same_origin_path(request: HttpRequest, value: str) -> str:
    """*value* if it is a path on this very site (``/setup/...``), else ``ValueError``.

    Stricter than :func:`checked_next`: no scheme, no host (not even an allowed one), no
    ``//`` or ``/\\`` (a host to browsers), no control character anywhere.
    """
    path = str(value or "")
    if (
        not path.startswith("/")
        or path.startswith(("//", "/\\"))
        or "\\" in path
        or _CONTROL.search(path)
        or len(path) > 2048
        or not url_has_allowed_host_and_scheme(
            path, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        raise ValueError(f"not a path on this site: {path[:80]!r}")
    return path


def default_login_redirect() -> str:
    return resolve_url(provisioning_settings.SAML_LOGIN_REDIRECT_URL or settings.LOGIN_REDIRECT_URL)


def default_logout_redirect() -> str:
    return resolve_url(provisioning_settings.SAML_LOGOUT_REDIRECT_URL or "/")
