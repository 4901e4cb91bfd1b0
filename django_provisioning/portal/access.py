"""The gate of every portal page: the link's cookie, the refusal pages and the safety headers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from ..models import SetupLink
from .links import Access, check_access

#: Page, status and message of each refusal. Unknown and revoked links get the same page, so
#: it tells nothing to someone who guesses; an expired link says so (only its holder sees it).
REFUSALS: dict[str, tuple[int, str, str]] = {
    "invalid": (
        404,
        "This setup link is not valid",
        "The link is unknown or has been revoked. Ask the product's team for a new one.",
    ),
    "expired": (
        410,
        "This setup link has expired",
        "Setup links are valid for a limited time. Ask the product's team for a new one.",
    ),
    "in_use": (
        403,
        "This link is already in use",
        "This link is already in use in another browser; ask for a new one.",
    ),
}

PortalView = Callable[..., HttpResponse]


def protect(response: HttpResponse, referrer_policy: str = "same-origin") -> HttpResponse:
    """Headers of every portal page: no caching, no Referer to other sites, no framing, no
    indexing.

    ``same-origin``, not ``no-referrer``, on the pages with forms: under ``no-referrer``
    Chromium sends ``Origin: null`` with a form's POST, which Django's CSRF check refuses.
    The portal's own URLs hold no secret (only the first one does, answered ``no-referrer``).
    """
    add_never_cache_headers(response)
    response["Referrer-Policy"] = referrer_policy
    response["X-Frame-Options"] = "DENY"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def refusal(request: HttpRequest, access: Access) -> HttpResponse:
    status, title, message = REFUSALS.get(access.status, REFUSALS["invalid"])
    response = render(
        request,
        "django_provisioning/portal/refused.html",
        {"title": title, "message": message},
        status=status,
    )
    return protect(response, "no-referrer")


def page(
    request: HttpRequest,
    link: SetupLink,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render a portal page of *link*."""
    ctx = {"link": link, "connection": link.connection, **(context or {})}
    return protect(render(request, f"django_provisioning/portal/{template}", ctx, status=status))


def portal_view(view: PortalView) -> PortalView:
    """Admit only the browser bound to the link ``link_id``; refuse everyone else."""

    @wraps(view)
    def wrapper(request: HttpRequest, link_id: Any, **kwargs: Any) -> HttpResponse:
        access = check_access(request, str(link_id))
        if access.status != "ok" or access.link is None:
            return refusal(request, access)
        return view(request, access.link, **kwargs)

    return wrapper
