"""URLs of the example SaaS: admin, SCIM under scim/v2/, SAML under sso/, and a home page."""

from demo.views import home
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    # SCIM 2.0 base URL for the IdP: http://127.0.0.1:8000/scim/v2/
    path("scim/v2/", include("django_provisioning.scim.urls")),
    # SAML 2.0: sso/<slug>/login/, acs/, metadata/, slo/
    path("sso/", include("django_provisioning.saml.urls")),
]
