from django.urls import path

app_name = "django_provisioning_saml"
urlpatterns: list = []
