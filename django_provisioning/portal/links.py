"""Setup links: created hashed, opened once per browser, expired or revoked.

A link's secret (``setup_`` + 43 URL-safe characters, 256 random bits) appears only in the URL
handed to the customer; the database keeps its SHA-256 checksum (:func:`..tokens.checksum`,
as for SCIM tokens). The first browser that opens the link is bound to it: a second random
secret goes into an HttpOnly cookie, scoped to the portal's path, and its checksum into the
row. From then on the portal's pages are addressed by the link's ``public_id`` (not a secret)
and authorised by that cookie, so the secret leaves the address bar after the first request.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from ..conf import provisioning_settings
from ..models import Connection, SetupLink
from ..tokens import checksum

LINK_PREFIX = "setup_"
URL_NAMESPACE = "django_provisioning_portal"
COOKIE_PREFIX = "dp_setup_"


class PortalNotConfigured(Exception):
    """``PORTAL_BASE_URL`` is not set: no link can be printed."""


def link_url(raw: str) -> str:
    """The full URL of the link whose secret is *raw* (``PORTAL_BASE_URL`` + the path)."""
    base = provisioning_settings.PORTAL_BASE_URL
    if not base:
        raise PortalNotConfigured(
            'Set DJANGO_PROVISIONING["PORTAL_BASE_URL"] to the scheme and host the product is '
            'served at (e.g. "https://app.example.com") to create setup links.'
        )
    return str(base).rstrip("/") + reverse(f"{URL_NAMESPACE}:open", args=[raw])


def create_link(
    connection: Connection, *, created_by: str = "", expires_in_hours: float | None = None
) -> tuple[SetupLink, str]:
    """A new link for *connection*: (row, full URL). The URL (with the secret) is not stored."""
    hours = (
        provisioning_settings.PORTAL_LINK_EXPIRY_HOURS
        if expires_in_hours is None
        else expires_in_hours
    )
    if not 0 < hours <= 24 * 365:
        raise ValueError("A setup link expires after more than 0 hours and at most a year.")
    raw = LINK_PREFIX + secrets.token_urlsafe(32)
    url = link_url(raw)  # before the row: an unset base URL writes nothing
    link = SetupLink.objects.create(
        connection=connection,
        token_hash=checksum(raw),
        expires_at=timezone.now() + timedelta(hours=hours),
        created_by=created_by[:200],
    )
    return link, url


def revoke_link(link: SetupLink) -> bool:
    """Revoke *link*; False when it already was."""
    if link.revoked_at is not None:
        return False
    link.revoked_at = timezone.now()
    link.save(update_fields=["revoked_at"])
    return True


@dataclass
class Access:
    """What a request may do with a link: ``status`` is "ok", "invalid", "expired" or "in_use"."""

    status: str
    link: SetupLink | None = None


def _judge(link: SetupLink | None, request: HttpRequest) -> Access:
    if link is None or link.revoked_at is not None or not link.connection.is_active:
        # Unknown, revoked and inactive look the same: the page tells a guesser nothing.
        return Access("invalid")
    if link.expires_at <= timezone.now():
        return Access("expired", link)
    if not link.browser_hash:
        return Access("unbound", link)
    cookie = request.COOKIES.get(cookie_name(link), "")
    if cookie and hmac.compare_digest(checksum(cookie), link.browser_hash):
        return Access("ok", link)
    return Access("in_use", link)


def cookie_name(link: SetupLink) -> str:
    return COOKIE_PREFIX + link.public_id.hex


def open_link(request: HttpRequest, raw: str, *, bind: bool) -> tuple[Access, str]:
    """Judge the secret *raw* of a request that opens a link; with *bind*, bind an unbound one.

    Returns (access, cookie secret): the secret is non-empty when this request bound the link
    and must be set as its cookie (:func:`set_browser_cookie`). Without *bind* an unbound
    link is answered ``"unbound"`` (the page that asks to continue: a GET never binds, so a
    mail scanner or link preview that fetches the URL first cannot take the link).
    """
    if not raw.startswith(LINK_PREFIX) or len(raw) > 100 or not raw.isascii():
        return Access("invalid"), ""
    link = SetupLink.objects.select_related("connection").filter(token_hash=checksum(raw)).first()
    access = _judge(link, request)
    if access.status != "unbound" or link is None or not bind:
        return access, ""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        # Only one browser wins a race for a fresh link: the update sees an empty hash once.
        bound = SetupLink.objects.filter(pk=link.pk, browser_hash="").update(
            browser_hash=checksum(secret), bound_at=timezone.now()
        )
    if not bound:
        return Access("in_use", link), ""
    link.browser_hash = checksum(secret)
    return Access("ok", link), secret


def check_access(request: HttpRequest, public_id: str) -> Access:
    """Judge a request to a portal page of the link *public_id* (cookie-authorised)."""
    link = SetupLink.objects.select_related("connection").filter(public_id=public_id).first()
    access = _judge(link, request)
    if access.status == "unbound":
        return Access("invalid")  # only the secret URL binds a link
    return access


def set_browser_cookie(
    response: HttpResponse, request: HttpRequest, link: SetupLink, secret: str
) -> None:
    """Bind the browser: the cookie only the portal's pages of this link receive."""
    response.set_cookie(
        cookie_name(link),
        secret,
        max_age=max(int((link.expires_at - timezone.now()).total_seconds()), 0),
        path=reverse(f"{URL_NAMESPACE}:root"),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
