"""The example SaaS's one page: who is signed in, and what SCIM has provisioned."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from django_provisioning.models import ExternalIdentity


def home(request: HttpRequest) -> HttpResponse:
    identities = (
        ExternalIdentity.objects.filter(connection__slug="demo", deleted_at=None)
        .select_related("user")
        .order_by("-created_at")[:20]
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
            "identities": identities,
            "linked": linked,
            "scim_base_url": request.build_absolute_uri("/scim/v2/"),
            "metadata_url": request.build_absolute_uri("/sso/demo/metadata/"),
            "acs_url": request.build_absolute_uri("/sso/demo/acs/"),
        },
    )
