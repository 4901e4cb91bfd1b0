"""The SAML tests' URLs plus two stand-ins for a setup page that runs a test sign-in.

``/setup/<slug>/test/?return_to=...`` starts one (what the portal's button does) and
``/setup/<slug>/result/`` answers the result as JSON (what the portal renders), or 204.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from django.http import HttpRequest, HttpResponse
from django.urls import path

from django_provisioning.connections import get_connection
from django_provisioning.saml.test_signin import begin_test_sign_in, pop_test_result

from .urls import urlpatterns as saml_urlpatterns


def start(request: HttpRequest, slug: str) -> HttpResponse:
    connection = get_connection(slug)
    assert connection is not None
    try:
        return begin_test_sign_in(
            request, connection, return_to=request.GET.get("return_to", f"/setup/{slug}/")
        )
    except ValueError as exc:
        return HttpResponse(f"refused: {exc}", status=400)


def result(request: HttpRequest, slug: str) -> HttpResponse:
    connection = get_connection(slug)
    assert connection is not None
    found = pop_test_result(request, connection)
    if found is None:
        return HttpResponse(status=204)
    return HttpResponse(json.dumps(asdict(found)), content_type="application/json")


urlpatterns = [
    path("setup/<slug:slug>/test/", start),
    path("setup/<slug:slug>/result/", result),
    *saml_urlpatterns,
]
