"""URLs of the example SaaS: its pages, admin, SCIM under scim/v2/, SAML under sso/, and the
development IdP under devidp/ (DEBUG only)."""

from demo.views import dashboard, home, sign_in
from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path

urlpatterns = [
    path("", home, name="home"),
    path("signin/", sign_in, name="sign-in"),
    path("dashboard/", dashboard, name="dashboard"),
    # The local sign-out (POST): the dashboard's "Sign out" after a sign-in that cannot do
    # SAML single logout (the admin's logout would refuse a person who is not staff).
    path("signout/", LogoutView.as_view(), name="sign-out"),
    path("admin/", admin.site.urls),
    # SCIM 2.0 base URL for the IdP: http://127.0.0.1:8000/scim/v2/
    path("scim/v2/", include("django_provisioning.scim.urls")),
    # SAML 2.0: sso/<slug>/login/, acs/, metadata/, slo/
    path("sso/", include("django_provisioning.saml.urls")),
    # The self-serve setup portal: setup/<link>/ (create_setup_link SLUG prints one).
    path("setup/", include("django_provisioning.portal.urls")),
    # The development IdP: every page of it is a 404 unless DEBUG is on (it signs in whoever
    # is picked). Leave it out of a real project.
    path("devidp/", include("devidp.urls")),
]
