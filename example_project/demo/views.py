"""The example SaaS's pages: home, the sign-in page (home-realm discovery) and the dashboard."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from django_provisioning.adapter import get_adapter
from django_provisioning.domains import connection_for_email
from django_provisioning.models import ExternalIdentity
from django_provisioning.saml.logout import slo_connection

from .models import Membership, Organization

#: Members listed per organization (the newest first).
MEMBERS_SHOWN = 20


def home(request: HttpRequest) -> HttpResponse:
    newest = Membership.objects.select_related("user").order_by("-created_at")
    organizations = Organization.objects.select_related("connection").prefetch_related(
        Prefetch("memberships", queryset=newest, to_attr="newest_memberships")
    )
    return render(
        request,
        "demo/home.html",
        {
            "organizations": [
                (org, org.connection_slug, org.newest_memberships[:MEMBERS_SHOWN])  # type: ignore[attr-defined]
                for org in organizations
            ],
            "scim_base_url": request.build_absolute_uri("/scim/v2/"),
            "sso_base_url": request.build_absolute_uri("/sso/"),
        },
    )


def sign_in(request: HttpRequest) -> HttpResponse:
    """ "Enter your work e-mail": sent to the identity provider of the domain's organization.

    Home-realm discovery: the connection that verified the e-mail's domain (one connection
    per domain, kept by the database) is the organization's; its SAML login takes it from
    there and comes back to the dashboard.
    """
    email = (request.POST.get("email") or "").strip()
    error = ""
    if request.method == "POST":
        connection = connection_for_email(email)
        if connection is not None:
            login = reverse("django_provisioning_saml:login", args=[connection.slug])
            return HttpResponseRedirect(f"{login}?{urlencode({'next': reverse('dashboard')})}")
        error = (
            "No organization has verified that e-mail's domain. Try alice@example.com "
            "(Demo customer) or carol@globex.example (Globex)."
        )
    return render(
        request,
        "demo/sign_in.html",
        {"email": email, "error": error},
        status=400 if error else 200,
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Who is signed in: their account, organization, groups and identity provider."""
    user = request.user
    identities = list(
        ExternalIdentity.objects.filter(user_id=user.pk, deleted_at=None).select_related(
            "connection"
        )
    )
    return render(
        request,
        "demo/dashboard.html",
        {
            "organization": get_adapter().get_user_tenant(user),
            "groups": sorted(user.groups.values_list("name", flat=True)),  # type: ignore[union-attr]
            "identities": identities,
            # Single logout only for a session that signed in through SAML, at a connection
            # with an IdP SLO URL; a local logout otherwise.
            "slo_connection": slo_connection(request),
        },
    )
