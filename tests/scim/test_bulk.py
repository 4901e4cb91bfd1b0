"""``POST /Bulk`` (RFC 7644 §3.7) on Users: operations, bulkId references, failOnErrors, limits.

Bulk with Groups (members referencing users created in the same request, circular references)
is in ``test_bulk_groups.py``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from django_provisioning.models import ExternalIdentity

from .test_hostile import FUZZ, assert_scim_error, json_values, user_bodies
from .test_users_api import okta_user

User = get_user_model()
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def bulk(*operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(operations), **extra}


def post_op(bulk_id: str, user_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": okta_user(user_name, externalId=bulk_id, **extra),
    }


def patch_op(path: str, *operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "method": "PATCH",
        "path": path,
        "data": {"schemas": [PATCH], "Operations": list(operations)},
        **extra,
    }


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["schemas"] == [BULK_RESPONSE]
    return list(body["Operations"])


def names() -> list[str]:
    """The userNames of the users a client can read (a SCIM DELETE may keep the row)."""
    return sorted(
        ExternalIdentity.objects.filter(deleted_at=None).values_list("user_name", flat=True)
    )


def test_service_provider_config_advertises_bulk(scim: Any) -> None:
    config = scim.get("ServiceProviderConfig").json()
    assert config["bulk"] == {"supported": True, "maxOperations": 500, "maxPayloadSize": 1048576}


def test_every_method_in_one_request(scim: Any) -> None:
    kept = scim.post("Users", okta_user("kept@example.com", externalId="k")).json()
    gone = scim.post("Users", okta_user("gone@example.com", externalId="g")).json()
    response = scim.post(
        "Bulk",
        bulk(
            post_op("qwerty", "new@example.com"),
            {
                "method": "PUT",
                "path": f"/Users/{kept['id']}",
                "version": kept["meta"]["version"],
                "data": okta_user("kept@example.com", externalId="k", displayName="Kept"),
            },
            patch_op(
                f"/Users/{kept['id']}",
                {"op": "replace", "path": "title", "value": "Boss"},
            ),
            {"method": "DELETE", "path": f"/Users/{gone['id']}"},
        ),
    )
    post, put, patch, delete = results(response)
    assert post["status"] == "201" and post["bulkId"] == "qwerty" and post["method"] == "POST"
    new = ExternalIdentity.objects.get(user_name="new@example.com")
    assert post["location"] == f"http://testserver/scim/v2/Users/{new.scim_id}"
    assert post["version"] == 'W/"1"'
    assert (put["status"], put["version"]) == ("200", 'W/"2"')
    assert (patch["status"], patch["version"]) == ("200", 'W/"3"')
    assert delete == {"method": "DELETE", "status": "204"}
    assert names() == ["kept@example.com", "new@example.com"]
    read = scim.get(f"Users/{kept['id']}").json()
    assert (read["displayName"], read["title"]) == ("Kept", "Boss")


def test_a_bulk_id_reference_in_a_path_waits_for_its_post(scim: Any) -> None:
    """The PATCH comes first in the request, but refers to the user the POST creates."""
    response = scim.post(
        "Bulk",
        bulk(
            patch_op("/Users/bulkId:ann", {"op": "replace", "path": "title", "value": "CTO"}),
            post_op("ann", "ann@example.com"),
        ),
    )
    patch, post = results(response)
    assert (patch["status"], post["status"]) == ("200", "201")
    assert patch["location"] == post["location"]
    identity = ExternalIdentity.objects.get()
    assert identity.document["title"] == "CTO"


def test_a_bulk_id_reference_in_data_is_replaced_by_the_id(scim: Any) -> None:
    ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    response = scim.post(
        "Bulk",
        bulk(
            post_op("boss", "boss@example.com"),
            post_op(
                "worker",
                "worker@example.com",
                schemas=["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                **{ENT: {"manager": {"value": "bulkId:boss"}}},
            ),
        ),
    )
    boss, worker = results(response)
    assert (boss["status"], worker["status"]) == ("201", "201")
    boss_id = ExternalIdentity.objects.get(user_name="boss@example.com").scim_id
    document = ExternalIdentity.objects.get(user_name="worker@example.com").document
    assert document[ENT]["manager"]["value"] == str(boss_id)


def test_unknown_and_failed_references_are_409_naming_the_bulk_id(scim: Any) -> None:
    response = scim.post(
        "Bulk",
        bulk(
            post_op("bad", "x" * 300),  # refused: too long
            patch_op("/Users/bulkId:bad", {"op": "replace", "path": "title", "value": "T"}),
            patch_op("/Users/bulkId:nowhere", {"op": "replace", "path": "title", "value": "T"}),
        ),
    )
    bad, after_bad, nowhere = results(response)
    assert bad["status"] == "400" and bad["response"]["scimType"] == "invalidValue"
    assert after_bad["status"] == "409"
    assert "'bad' failed" in after_bad["response"]["detail"]
    assert nowhere["status"] == "409"
    assert "'nowhere' is not defined" in nowhere["response"]["detail"]
    assert names() == []


def test_each_operation_is_its_own_transaction(scim: Any) -> None:
    response = scim.post(
        "Bulk",
        bulk(
            post_op("a", "a@example.com"),
            post_op("dup", "a@example.com"),  # the same userName: 409, nothing written
            post_op("c", "c@example.com"),
        ),
    )
    a, dup, c = results(response)
    assert [a["status"], dup["status"], c["status"]] == ["201", "409", "201"]
    assert dup["response"]["scimType"] == "uniqueness"
    assert "location" not in dup
    assert names() == ["a@example.com", "c@example.com"]
    assert User.objects.count() == 2


def test_fail_on_errors_stops_the_processing(scim: Any) -> None:
    response = scim.post(
        "Bulk",
        bulk(
            post_op("a", "a@example.com"),
            post_op("b", "a@example.com"),  # fails
            post_op("c", "c@example.com"),  # not run
            failOnErrors=1,
        ),
    )
    done = results(response)
    assert [(r["bulkId"], r["status"]) for r in done] == [("a", "201"), ("b", "409")]
    assert names() == ["a@example.com"]


def test_a_version_that_does_not_match_is_412_for_that_operation(scim: Any) -> None:
    user = scim.post("Users", okta_user("v@example.com")).json()
    response = scim.post(
        "Bulk",
        bulk(
            {
                "method": "DELETE",
                "path": f"/Users/{user['id']}",
                "version": 'W/"7"',
            }
        ),
    )
    [delete] = results(response)
    assert delete["status"] == "412"
    assert names() == ["v@example.com"]


def test_operations_stay_in_their_connection(scim: Any, other_scim: Any) -> None:
    theirs = other_scim.post("Users", okta_user("theirs@globex.test")).json()
    response = scim.post(
        "Bulk",
        bulk(
            {"method": "DELETE", "path": f"/Users/{theirs['id']}"},
            patch_op(f"/Users/{theirs['id']}", {"op": "replace", "path": "title", "value": "Mine"}),
        ),
    )
    delete, patch = results(response)
    assert (delete["status"], patch["status"]) == ("404", "404")
    assert other_scim.get(f"Users/{theirs['id']}").json().get("title") is None


def test_more_operations_than_allowed_is_413_and_nothing_runs(scim: Any) -> None:
    with override_settings(DJANGO_PROVISIONING={"SCIM_BULK_MAX_OPERATIONS": 2}):
        assert scim.get("ServiceProviderConfig").json()["bulk"]["maxOperations"] == 2
        response = scim.post(
            "Bulk",
            bulk(*(post_op(f"u{i}", f"u{i}@example.com") for i in range(3))),
        )
    assert_scim_error(response, 413)
    assert "at most 2" in response.json()["detail"]
    assert names() == []


def test_a_body_over_the_payload_size_is_413(scim: Any) -> None:
    with override_settings(DJANGO_PROVISIONING={"SCIM_MAX_PAYLOAD_SIZE": 1000}):
        response = scim.post(
            "Bulk",
            bulk(*(post_op(f"u{i}", f"u{i}@example.com") for i in range(5))),
        )
    assert_scim_error(response, 413)
    assert names() == []


def test_malformed_requests_are_400(scim: Any) -> None:
    for body, scim_type in (
        ({"Operations": [post_op("a", "a@example.com")]}, "invalidSyntax"),
        (bulk(), "invalidSyntax"),
        ({"schemas": [BULK], "Operations": {"method": "POST"}}, "invalidSyntax"),
        (bulk("POST /Users"), "invalidSyntax"),
        (bulk(post_op("a", "a@example.com"), failOnErrors="1"), "invalidSyntax"),
        (bulk(post_op("a", "a@example.com"), failOnErrors=0), "invalidValue"),
        (bulk(post_op("a", "a@example.com"), post_op("a", "b@example.com")), "invalidValue"),
        ([1, 2], "invalidSyntax"),
    ):
        assert_scim_error(scim.post("Bulk", body), 400, scim_type)
    assert names() == []


def test_malformed_operations_fail_alone(scim: Any) -> None:
    response = scim.post(
        "Bulk",
        bulk(
            {"method": "GET", "path": "/Users"},
            {"method": "POST", "path": "/Schemas", "bulkId": "s", "data": {}},
            {"method": "POST", "path": "/Bulk", "bulkId": "b", "data": {}},
            {"method": "POST", "path": "/Users", "data": okta_user("nobulk@example.com")},
            {"method": "DELETE", "path": "/Users"},
            {"method": "PUT", "path": "/Users/x", "data": "text"},
            {"method": "POST", "path": "/Users", "bulkId": "ok", "data": okta_user()},
        ),
    )
    statuses = [(r["status"], r.get("response", {}).get("scimType")) for r in results(response)]
    assert statuses == [
        ("400", "invalidSyntax"),
        ("400", "invalidPath"),
        ("400", "invalidPath"),
        ("400", "invalidSyntax"),
        ("400", "invalidPath"),
        ("400", "invalidSyntax"),
        ("201", None),
    ]
    assert names() == ["alice@example.com"]


def test_bulk_needs_the_token(scim: Any, client: Any) -> None:
    response = client.post(
        "/scim/v2/Bulk",
        bulk(post_op("a", "a@example.com")),
        content_type="application/scim+json",
    )
    assert_scim_error(response, 401)
    assert names() == []


bulk_operations = st.fixed_dictionaries(
    {},
    optional={
        "method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "post", "GET", "", 3]),
        "path": st.sampled_from(
            ["/Users", "/Users/bulkId:a", "/Users/bulkId:", "/Groups", "Users", "/Users/x/y", ""]
        )
        | st.text(max_size=20),
        "bulkId": st.sampled_from(["a", "b", "", None, 1]) | st.text(max_size=5),
        "version": st.sampled_from(['W/"1"', "", None, 7]),
        "data": json_values | user_bodies,
    },
)


@FUZZ
@given(
    operations=st.lists(bulk_operations | json_values, max_size=5),
    fail_on_errors=st.sampled_from([None, 1, 0, "2", True]),
)
def test_fuzz_bulk_never_500(scim: Any, operations: Any, fail_on_errors: Any) -> None:
    """Whatever arrives, the answer is a BulkResponse or a SCIM error, and no operation is 500."""
    body: dict[str, Any] = {"schemas": [BULK], "Operations": operations}
    if fail_on_errors is not None:
        body["failOnErrors"] = fail_on_errors
    response = scim.post("Bulk", json.dumps(body))
    assert response.status_code in (200, 400, 413), response.content[:500]
    if response.status_code != 200:
        assert_scim_error(response, response.status_code)
    else:
        for result in response.json()["Operations"]:
            assert int(result["status"]) < 500, result
    ExternalIdentity.objects.all().delete()
    User.objects.all().delete()


def test_data_nested_too_deep_is_400_before_anything_runs(scim: Any) -> None:
    deep: Any = "x"
    for _ in range(600):
        deep = [deep]
    response = scim.post(
        "Bulk", bulk(post_op("a", "a@example.com"), post_op("b", "b@example.com", x=deep))
    )
    assert_scim_error(response, 400, "invalidSyntax")
    assert "nests deeper" in response.json()["detail"]
    assert names() == []


def test_an_operation_that_crashes_fails_alone(scim: Any, monkeypatch: Any) -> None:
    """Whatever goes wrong inside one operation is that operation's result: the ones before it
    are committed, and the response says so."""
    from django_provisioning.scim import views

    real = views.UserListView.post
    calls: list[int] = []

    def crash_second(self: Any, request: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(self, request)

    monkeypatch.setattr(views.UserListView, "post", crash_second)
    first, second, third = results(
        scim.post(
            "Bulk",
            bulk(
                post_op("a", "a@example.com"),
                post_op("b", "b@example.com"),
                post_op("c", "c@example.com"),
            ),
        )
    )
    assert [first["status"], second["status"], third["status"]] == ["201", "500", "201"]
    assert "boom" not in str(second["response"])  # no internals in the body
    assert names() == ["a@example.com", "c@example.com"]


def test_bulk_under_a_script_prefix(scim: Any) -> None:
    """Deployed under a prefix (SCRIPT_NAME, FORCE_SCRIPT_NAME): operations still reach their
    endpoints (the URLconf sees paths without it), and locations carry the prefix."""
    from django.urls import get_script_prefix, set_script_prefix

    before = get_script_prefix()
    set_script_prefix("/app/")  # what WSGIHandler does for SCRIPT_NAME=/app
    try:
        [created] = results(scim.post("Bulk", bulk(post_op("a", "a@example.com"))))
    finally:
        set_script_prefix(before)
    assert created["status"] == "201", created
    assert created["location"].startswith("http://testserver/app/scim/v2/Users/")
