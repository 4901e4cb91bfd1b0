"""OneLogin's "SCIM Provisioner with SAML (SCIM v2 Core)", as far as its public documentation shows
its requests: a lookup by ``userName``, ``POST``, a full ``PUT`` for every change (suspension
included: ``active: false``), ``DELETE``. See docs/idp/onelogin.rst for what is not covered.
"""

from __future__ import annotations

from typing import Any

from .conftest import Idp

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def onelogin_user(email: str, given: str, family: str, *, active: bool = True) -> dict[str, Any]:
    """OneLogin's default SCIM 2.0 core template, filled in."""
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": active,
    }


def test_put_heavy_lifecycle(idp: Idp) -> None:
    status, found = idp.filter('userName eq "kim.lee@onelogin.example"')
    assert (status, found["totalResults"]) == (200, 0)
    status, created = idp.call(
        "POST", "Users", onelogin_user("kim.lee@onelogin.example", "Kim", "Lee")
    )
    assert status == 201, created
    user_id = created["id"]

    # Every change is a whole replacement, without id or meta.
    status, put = idp.call(
        "PUT", f"Users/{user_id}", onelogin_user("kim.lee@onelogin.example", "Kimberly", "Lee")
    )
    assert (status, put["name"]["givenName"]) == (200, "Kimberly")
    # The same PUT again: nothing changes, not even the version.
    status, again = idp.call(
        "PUT", f"Users/{user_id}", onelogin_user("kim.lee@onelogin.example", "Kimberly", "Lee")
    )
    assert (status, again["meta"]["version"]) == (200, put["meta"]["version"])
    # A new e-mail (and userName) by PUT.
    status, moved = idp.call(
        "PUT", f"Users/{user_id}", onelogin_user("kim.l@onelogin.example", "Kimberly", "Lee")
    )
    assert (status, moved["userName"]) == (200, "kim.l@onelogin.example")
    status, found = idp.filter('userName eq "kim.l@onelogin.example"')
    assert [r["id"] for r in found["Resources"]] == [user_id]

    # Suspend and unsuspend by PUT.
    for active in (False, True):
        status, put = idp.call(
            "PUT",
            f"Users/{user_id}",
            onelogin_user("kim.l@onelogin.example", "Kimberly", "Lee", active=active),
        )
        assert (status, put["active"]) == (200, active)

    status, _ = idp.call("DELETE", f"Users/{user_id}")
    assert status == 204
    status, _ = idp.get(f"Users/{user_id}")
    assert status == 404
