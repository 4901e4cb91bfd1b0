from django.urls import path

app_name = "django_provisioning_scim"
urlpatterns: list = []
