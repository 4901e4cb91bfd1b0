"""The example SaaS's one page: who is signed in, and each organization's members."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from django_provisioning.models import ExternalIdentity

from .models import Membership, Organization

#: Members listed per organization (the newest first).
MEMBERS_SHOWN = 20


def home(request: HttpRequest) -> HttpResponse:
    newest = Membership.objects.select_related("user").order_by("-created_at")
    organizations = Organization.objects.select_related("connection").prefetch_related(
        Prefetch("memberships", queryset=newest, to_attr="newest_memberships")
    )
    linked = []
    if request.user.is_authenticated:
        linked = list(
            ExternalIdentity.objects.filter(user_id=request.user.pk).select_related("connection")
        )
    return render(
        request,
        "demo/home.html",
        {
            "organizations": [
                (org, org.connection_slug, org.newest_memberships[:MEMBERS_SHOWN])  # type: ignore[attr-defined]
                for org in organizations
            ],
            "linked": linked,
            "scim_base_url": request.build_absolute_uri("/scim/v2/"),
            "sso_base_url": request.build_absolute_uri("/sso/"),
        },
    )
