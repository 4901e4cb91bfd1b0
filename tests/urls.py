from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def home(request: HttpRequest) -> HttpResponse:
    who = request.user.get_username() if request.user.is_authenticated else "anonymous"
    return HttpResponse(f"home: {who}")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("scim/v2/", include("django_provisioning.scim.urls")),
    path("sso/", include("django_provisioning.saml.urls")),
    path("home/", home),
    path("setup/", include("django_provisioning.portal.urls")),
]
