"""URLs for the SAML tests: only the SAML views and a page that says who is signed in.

The SAML tests use their own URLconf so they do not depend on the SCIM views being importable.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def home(request: HttpRequest) -> HttpResponse:
    who = request.user.get_username() if request.user.is_authenticated else "anonymous"
    return HttpResponse(f"home: {who}")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("sso/", include("django_provisioning.saml.urls")),
    path("home/", home),
    path("", home),
]
