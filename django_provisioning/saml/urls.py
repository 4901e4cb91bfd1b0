"""URLs of the SAML service provider; include under any prefix, e.g. ``path("sso/", ...)``."""

from __future__ import annotations

from django.urls import URLPattern, path

from . import logout, views

app_name = "django_provisioning_saml"

urlpatterns: list[URLPattern] = [
    path("<slug:slug>/login/", views.login_view, name="login"),
    path("<slug:slug>/acs/", views.acs_view, name="acs"),
    path("<slug:slug>/acs/finish/", views.acs_finish_view, name="acs-finish"),
    path("<slug:slug>/metadata/", views.metadata_view, name="metadata"),
    path("<slug:slug>/slo/", logout.slo_view, name="slo"),
    path("<slug:slug>/logout/", logout.logout_view, name="logout"),
]
