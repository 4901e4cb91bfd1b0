"""The total work of one PATCH is bounded (``SCIM_PATCH_MAX_WORK``), and refused before any.

The issue's request: 1000 operations of ``replace emails[value eq "..."].display`` on a user
with 999 e-mails took 14.6 s, and 40-term value filters timed the worker out -- each limit
(operations, values, filter terms) was harmless alone, their product was not. Over the limit
the answer is ``400 tooMany`` before any operation is applied, and the database is unchanged.
The unit is one value examined by one filter term (see ``scim/patch_cost.py``); speed at the
limit is measured by ``benchmarks/bench_patch.py``, not here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_provisioning.checks import check_settings
from django_provisioning.conf import provisioning_settings
from django_provisioning.schema.definitions import GROUP, USER_RESOURCE, ResourceType
from django_provisioning.scim import patch as scim_patch
from django_provisioning.scim.errors import TooMany
from django_provisioning.scim.filtering import value_filter as scim_filter
from django_provisioning.scim.patch import plan_patch

from .bodies import patch_body
from .test_hostile import assert_scim_error, snapshot
from .test_users_api import create


def address(n: int) -> str:
    return f"u{n:04d}@example.com"


def stuffed(scim: Any, emails: int, **extra: Any) -> dict[str, Any]:
    """A user with *emails* e-mail addresses."""
    values = [{"value": address(n), "type": "work"} for n in range(emails)]
    return create(scim, userName="stuffed@example.com", emails=values, **extra)


def display_ops(count: int, terms: int = 1, emails: int = 999) -> list[dict[str, Any]]:
    """The issue's operations: ``replace emails[value eq ... or ...].display``."""
    ops = []
    for i in range(count):
        clauses = [f'value eq "miss{t}@example.com"' for t in range(terms - 1)]
        clauses.append(f'value eq "{address(i % emails)}"')
        path = f"emails[{' or '.join(clauses)}].display"
        ops.append({"op": "replace", "path": path, "value": f"Mail {i}"})
    return ops


@pytest.fixture
def no_work_allowed(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Fail the request (a 500) if any operation is applied or any element compared."""
    done = {"applied": 0, "compared": 0}

    def apply(self: Any, *args: Any) -> None:
        done["applied"] += 1
        raise AssertionError("an operation was applied before the work was counted")

    def compare(*args: Any) -> bool:
        done["compared"] += 1
        raise AssertionError("an element was compared before the work was counted")

    monkeypatch.setattr(scim_patch._Patch, "apply", apply)
    monkeypatch.setattr(scim_filter, "matches_element", compare)
    return done


def refused(scim: Any, user: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    before = snapshot()
    response = scim.patch(f"Users/{user['id']}", patch_body(*operations))
    body = assert_scim_error(response, 400, "tooMany")
    assert snapshot() == before
    return body


# -------------------------------------------------------------- the issue's requests


def test_the_issues_patch_is_too_many_before_any_work(scim, no_work_allowed):
    """1000 x replace emails[value eq].display on 999 e-mails: a million units."""
    user = stuffed(scim, 999)
    body = refused(scim, user, display_ops(1000))
    assert "SCIM_PATCH_MAX_WORK" in body["detail"]
    assert no_work_allowed == {"applied": 0, "compared": 0}


def test_forty_term_filters_are_too_many_before_any_work(scim, no_work_allowed):
    user = stuffed(scim, 999)
    refused(scim, user, display_ops(10, terms=40))
    assert no_work_allowed == {"applied": 0, "compared": 0}


def test_many_terms_on_few_values_are_too_many(scim, no_work_allowed):
    """Operations x terms, even where the attribute holds few values."""
    user = stuffed(scim, 5)
    refused(scim, user, display_ops(100, terms=100, emails=5))
    assert no_work_allowed == {"applied": 0, "compared": 0}


def test_a_huge_no_path_value_is_too_many(scim, no_work_allowed):
    """A no-path value object counts each of its keys: 50 000 keys stop at the limit."""
    user = stuffed(scim, 1)
    value = {f"x{n}": n for n in range(50_000)}
    refused(scim, user, [{"op": "replace", "value": value}])
    assert no_work_allowed == {"applied": 0, "compared": 0}


# -------------------------------------------------------------- at the limit, and one over


@override_settings(DJANGO_PROVISIONING={"SCIM_PATCH_MAX_WORK": 46})
def test_at_the_limit_is_applied_and_one_operation_over_is_refused(scim):
    """On 9 e-mails, a filtered operation examines 9 values + the 1 it may add; each may
    add one, so the next examines one more: 4 operations are 10 + 11 + 12 + 13 = 46 units."""
    user = stuffed(scim, 9)
    url = f"Users/{user['id']}"
    refused(scim, user, display_ops(5, emails=9))  # 46 + 14
    refused(scim, user, display_ops(1, terms=2, emails=9) + display_ops(3, emails=9))  # 20 + 36
    response = scim.patch(url, patch_body(*display_ops(4, emails=9)))
    assert response.status_code == 200, response.content
    displays = [e.get("display") for e in response.json()["emails"]]
    assert displays == [f"Mail {i}" for i in range(4)] + [None] * 5
    two_terms = display_ops(1, terms=2, emails=9) + display_ops(2, emails=9)  # 20 + 11 + 12
    assert scim.patch(url, patch_body(*two_terms)).status_code == 200


def test_values_added_by_earlier_operations_count(scim):
    user = create(scim, userName="grows@example.com", emails=[])
    add = {"op": "add", "path": "emails", "value": [{"value": address(n)} for n in range(9)]}
    ops = [add, *display_ops(1, emails=9)]  # 9, then (9 held + 1 sent) x 1 term
    with override_settings(DJANGO_PROVISIONING={"SCIM_PATCH_MAX_WORK": 18}):
        refused(scim, user, ops)
    with override_settings(DJANGO_PROVISIONING={"SCIM_PATCH_MAX_WORK": 19}):
        response = scim.patch(f"Users/{user['id']}", patch_body(*ops))
        assert response.status_code == 200, response.content
        assert len(response.json()["emails"]) == 9


# -------------------------------------------------------------- the count itself


def document(emails: int) -> dict[str, Any]:
    return {"userName": "x", "emails": [{"value": address(n)} for n in range(emails)]}


def work(doc: dict[str, Any], *operations: dict[str, Any], resource: Any = USER_RESOURCE) -> int:
    return plan_patch(doc, patch_body(*operations), resource, limit=10**12)[1]


@pytest.mark.parametrize(
    ("operation", "units"),
    [
        ({"op": "replace", "path": "title", "value": "x"}, 1),
        ({"op": "replace", "path": "id", "value": "x"}, 1),  # readOnly: ignored, still 1
        ({"op": "replace", "path": 'emails[value eq "a"].display', "value": "x"}, 10),
        ({"op": "replace", "path": 'emails[value eq "a" or not (type pr)]', "value": {}}, 20),
        ({"op": "remove", "path": 'emails[value eq "a"]'}, 9),
        ({"op": "replace", "path": "emails.display", "value": "x"}, 10),
        ({"op": "add", "path": "emails", "value": [{"value": "a"}, {"value": "b"}]}, 11),
        ({"op": "replace", "path": "emails", "value": [{"value": "a"}]}, 10),
        ({"op": "remove", "path": "emails"}, 1),
        ({"op": "remove", "path": "emails", "value": [{"value": "a"}, {"value": "b"}]}, 11),
        ({"op": "remove", "path": "emails", "value": [{"type": "a"}, {"type": "b"}]}, 29),
        ({"op": "replace", "value": {"title": "x", "emails": [{"value": "a"}]}}, 12),
    ],
)
def test_units_of_one_operation(operation, units):
    """max(1, values examined) x max(1, filter terms); see scim/patch_cost.py."""
    assert work(document(9), operation) == units


def test_a_replaced_list_bounds_what_later_operations_examine():
    replace = {"op": "replace", "path": "emails", "value": [{"value": "a"}]}
    later = {"op": "replace", "path": 'emails[value eq "a"].display', "value": "x"}
    assert work(document(999), replace, later) == 1000 + 2


def test_group_members_are_one_set_operation():
    """Adding or removing N members will be a set operation (fixed queries): one unit."""
    groups = ResourceType(name="Group", endpoint="/Groups", schema=GROUP)
    doc = {"displayName": "g", "members": [{"value": str(n)} for n in range(5000)]}
    members = [{"value": f"new{n}"} for n in range(5000)]
    assert work(doc, {"op": "add", "path": "members", "value": members}, resource=groups) == 1
    remove = {"op": "remove", "path": 'members[value eq "7"]'}
    assert work(doc, remove, resource=groups) == 1


def test_the_meter_stops_at_the_limit():
    operations = display_ops(1000)
    with pytest.raises(TooMany):
        plan_patch(document(999), patch_body(*operations), USER_RESOURCE, limit=5000)


def test_what_identity_providers_send_is_far_below_the_default(scim):
    """Entra ID and Okta send tens of operations on users with a few e-mails."""
    user = stuffed(scim, 3)
    operations = [
        {"op": "Replace", "path": "displayName", "value": "A"},
        {"op": "Replace", "path": "name.givenName", "value": "A"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": address(0)},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555"},
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "value": {"active": True, "title": "T"}},
    ] * 5  # 30 operations, some repeated (retries merged into one request)
    units = work(document(3), *operations)
    assert units * 10 <= provisioning_settings.SCIM_PATCH_MAX_WORK
    response = scim.patch(f"Users/{user['id']}", patch_body(*operations))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("value", ["abc", 0, -5, 2.5, True, None])
def test_the_setting_is_checked(value):
    with override_settings(DJANGO_PROVISIONING={"SCIM_PATCH_MAX_WORK": value}):
        assert [m.id for m in check_settings()] == ["django_provisioning.E009"]
