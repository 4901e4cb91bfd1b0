"""Errors Django raises before a SCIM view runs still leave as SCIM bodies."""

from __future__ import annotations

from django.test import Client, override_settings
from django.urls import path


def test_disallowed_host_under_scim_prefix_is_a_scim_400(scim):
    response = scim.get("Users", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/scim+json"
    assert response.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "400",
        "detail": "Bad Request.",
    }


@override_settings(DEBUG=True)
def test_debug_page_never_leaks_under_scim_prefix(scim):
    response = scim.get("Users", HTTP_HOST="evil.example")
    assert response["Content-Type"] == "application/scim+json"
    assert b"SECRET_KEY" not in response.content and b"Traceback" not in response.content


def test_other_paths_keep_djangos_pages(db):
    response = Client().get("/home/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_scim_responses_pass_through_unchanged(scim):
    response = scim.get("Users/not-a-uuid")
    assert response.status_code == 404
    assert "not-a-uuid" in response.json()["detail"]  # the view's own detail, not replaced


def test_without_scim_urls_the_middleware_does_nothing(db):
    with override_settings(ROOT_URLCONF=__name__):
        response = Client().get("/missing/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


urlpatterns = [path("other/", lambda request: None)]
