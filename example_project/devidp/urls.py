"""The development IdP's URLs: /devidp/<organization>/sso/, slo/ and metadata/."""

from django.urls import path

from . import views

app_name = "devidp"

urlpatterns = [
    path("<slug:slug>/sso/", views.sso, name="sso"),
    path("<slug:slug>/slo/", views.slo, name="slo"),
    path("<slug:slug>/metadata/", views.metadata, name="metadata"),
]
