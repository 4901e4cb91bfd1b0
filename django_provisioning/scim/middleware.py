"""Keep the RFC 7644 §3.12 error body for errors raised before a SCIM view runs.

Django answers some requests itself, in HTML, before any view is reached: a ``Host`` header not
in ``ALLOWED_HOSTS`` (``DisallowedHost``, raised by ``CommonMiddleware``), an oversized upload,
a middleware of the host project that refuses the request. Under the SCIM prefix an identity
provider expects a SCIM body, and with ``DEBUG`` on the HTML page would even show settings.

Put this middleware first in ``MIDDLEWARE``: it rewrites any error response under the SCIM
prefix that is not already ``application/scim+json`` into a SCIM error with the same status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from .errors import ERROR_SCHEMA
from .renderers import SCIM_MEDIA_TYPE


def scim_prefix() -> str | None:
    """The path the SCIM URLs are included at (e.g. ``/scim/v2/``), or None."""
    try:
        return reverse("django_provisioning_scim:root")
    except NoReverseMatch:
        return None


class ScimErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith(SCIM_MEDIA_TYPE):
            return response
        prefix = scim_prefix()
        if prefix is None or not request.path.startswith(prefix.rstrip("/")):
            return response
        status = response.status_code
        try:
            detail = HTTPStatus(status).phrase + "."
        except ValueError:
            detail = "The request could not be processed."
        body = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
        replaced = HttpResponse(json.dumps(body), status=status, content_type=SCIM_MEDIA_TYPE)
        for header in ("WWW-Authenticate", "Retry-After", "Allow"):
            if header in response:
                replaced[header] = response[header]
        return replaced
