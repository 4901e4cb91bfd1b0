"""The development IdP's pages: pick a person and groups, sign; answer single logout.

Every view is refused (404) unless ``DEBUG`` is on, and the example's URLconf includes them
only then: this IdP signs whoever is picked, so it must never run beside real data.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from urllib.parse import urlparse

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from . import protocol
from .directory import DIRECTORY, GROUPS, idp_urls
from .keys import ensure_keypair

View = Callable[..., HttpResponse]


def debug_only(view: View) -> View:
    """Refuse *view* (404) unless DEBUG is on, and with an unknown organization."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, slug: str) -> HttpResponse:
        if not settings.DEBUG:
            raise Http404("The development IdP runs only with DEBUG on.")
        if slug not in DIRECTORY:
            raise Http404("No such organization at the development IdP.")
        return view(request, slug)

    return wrapped


def _urls(slug: str) -> dict[str, str]:
    return idp_urls(settings.DEVIDP_ORIGIN, slug)


def _refused(request: HttpRequest, slug: str, reason: str) -> HttpResponse:
    return render(request, "devidp/refused.html", {"slug": slug, "reason": reason}, status=400)


def _sp_url(request: HttpRequest, name: str, slug: str) -> str:
    return request.build_absolute_uri(reverse(f"django_provisioning_saml:{name}", args=[slug]))


@debug_only
@require_http_methods(["GET", "POST"])
def sso(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the AuthnRequest and a form to pick who signs in. POST: the signed Response."""
    data = request.POST if request.method == "POST" else request.GET
    saml_request = data.get("SAMLRequest", "")
    relay_state = data.get("RelayState", "")
    try:
        authn = protocol.read_request(saml_request, "AuthnRequest")
    except protocol.Refused as exc:
        return _refused(request, slug, str(exc))
    acs = urlparse(authn.acs_url)
    # Only to this organization's ACS on this very server: a demo IdP that signs for anyone
    # must not post its assertions to another site.
    if acs.netloc != request.get_host() or acs.path != reverse(
        "django_provisioning_saml:acs", args=[slug]
    ):
        return _refused(
            request, slug, f"AssertionConsumerServiceURL {authn.acs_url!r} is not ours."
        )
    people = {person.email: person for person in DIRECTORY[slug]}
    if request.method == "GET":
        return render(
            request,
            "devidp/sso.html",
            {
                "slug": slug,
                "people": people.values(),
                "groups": GROUPS,
                "saml_request": saml_request,
                "relay_state": relay_state,
                "sp": authn.issuer,
            },
        )
    person = people.get(request.POST.get("email", ""))
    if person is None:
        return _refused(request, slug, "Pick one of the people listed.")
    groups = [name for name in request.POST.getlist("groups") if name in GROUPS]
    pair = ensure_keypair(settings.DEVIDP_KEY_DIR)
    xml = protocol.response(
        authn,
        idp_entity_id=_urls(slug)["idp_entity_id"],
        name_id=person.email,
        attributes={
            "email": [person.email],
            "firstName": [person.first_name],
            "lastName": [person.last_name],
            "groups": groups,
        },
        key_pem=pair.key_pem,
        cert_pem=pair.cert_pem,
    )
    return render(
        request,
        "devidp/post.html",
        {
            "acs_url": authn.acs_url,
            "saml_response": base64.b64encode(xml).decode("ascii"),
            "relay_state": relay_state,
            "person": person,
        },
    )


@debug_only
@require_GET
def slo(request: HttpRequest, slug: str) -> HttpResponse:
    """Answer the SP's LogoutRequest with a signed LogoutResponse (redirect binding)."""
    try:
        logout = protocol.read_request(request.GET.get("SAMLRequest", ""), "LogoutRequest")
    except protocol.Refused as exc:
        return _refused(request, slug, str(exc))
    destination = _sp_url(request, "slo", slug)
    query = protocol.logout_response_query(
        logout,
        destination=destination,
        idp_entity_id=_urls(slug)["idp_entity_id"],
        relay_state=request.GET.get("RelayState", ""),
        key_pem=ensure_keypair(settings.DEVIDP_KEY_DIR).key_pem,
    )
    return HttpResponseRedirect(f"{destination}?{query}")


@debug_only
@require_GET
def metadata(request: HttpRequest, slug: str) -> HttpResponse:
    """The IdP's metadata for organization *slug* (entity id, SSO and SLO URLs, certificate)."""
    urls = _urls(slug)
    xml = protocol.metadata(
        urls["idp_entity_id"],
        urls["idp_sso_url"],
        urls["idp_slo_url"],
        ensure_keypair(settings.DEVIDP_KEY_DIR).cert_pem,
    )
    return HttpResponse(xml, content_type="application/samlmetadata+xml")
