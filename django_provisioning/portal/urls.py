"""URLs of the self-serve setup portal; include under any prefix, e.g. ``path("setup/", ...)``."""

from __future__ import annotations

from django.urls import URLPattern, path

from . import steps, views

app_name = "django_provisioning_portal"

urlpatterns: list[URLPattern] = [
    path("", views.root_view, name="root"),
    path("<str:token>/", views.open_view, name="open"),
    path("s/<uuid:link_id>/", views.home_view, name="home"),
    path("s/<uuid:link_id>/domains/", steps.domains_view, name="domains"),
    path("s/<uuid:link_id>/<slug:vendor>/", views.saml_view, name="saml"),
    path("s/<uuid:link_id>/<slug:vendor>/confirm/", views.confirm_view, name="confirm"),
    path("s/<uuid:link_id>/<slug:vendor>/test/", steps.test_view, name="test"),
    path("s/<uuid:link_id>/<slug:vendor>/scim/", steps.scim_view, name="scim"),
]
