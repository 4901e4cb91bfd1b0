from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.test import override_settings

from django_provisioning.adapter import DefaultAdapter, get_adapter
from django_provisioning.checks import check_backend, check_settings
from django_provisioning.conf import provisioning_settings


class CustomAdapter(DefaultAdapter):
    pass


def _ids(**settings):
    with override_settings(DJANGO_PROVISIONING=settings):
        return sorted(
            m.id for m in check_settings() if m.id and m.id.startswith("django_provisioning")
        )


def test_defaults_are_documented_values():
    assert provisioning_settings.SCIM_MAX_RESULTS == 200
    assert provisioning_settings.ADAPTER is DefaultAdapter


def test_unknown_setting_attribute_raises():
    with pytest.raises(AttributeError):
        provisioning_settings.NOT_A_SETTING  # noqa: B018


def test_override_settings_reloads_and_restores():
    with override_settings(
        DJANGO_PROVISIONING={"SCIM_MAX_RESULTS": 7, "ADAPTER": "tests.test_conf.CustomAdapter"}
    ):
        assert provisioning_settings.SCIM_MAX_RESULTS == 7
        assert isinstance(get_adapter(), CustomAdapter)
    assert provisioning_settings.SCIM_MAX_RESULTS == 200
    assert type(get_adapter()) is DefaultAdapter


def test_clean_settings_pass_checks():
    assert _ids(SCIM_MAX_RESULTS=10) == []


def test_unknown_key_is_reported_with_hint():
    with override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESULT": 10}):
        (msg,) = [m for m in check_settings() if m.id == "django_provisioning.E001"]
    assert "SCIM_MAX_RESULT" in msg.msg
    assert "SCIM_MAX_RESULTS" in msg.hint


def test_bad_import_string_is_reported():
    assert _ids(ADAPTER="nowhere.Adapter") == ["django_provisioning.E002"]


def test_not_a_dict():
    with override_settings(DJANGO_PROVISIONING=["x"]):
        assert [m.id for m in check_settings() if m.id.startswith("django_provisioning")] == [
            "django_provisioning.E000"
        ]


def test_connection_options_checked():
    assert _ids(CONNECTIONS=["x"]) == ["django_provisioning.E003"]
    assert _ids(CONNECTIONS={"a": {"nmae": "x"}}) == ["django_provisioning.E004"]


def test_attribute_map_checked():
    assert _ids(USER_ATTRIBUTE_MAP="x") == ["django_provisioning.E005"]
    username_field = get_user_model().USERNAME_FIELD
    assert _ids(USER_ATTRIBUTE_MAP={"userName": username_field, "title": "nope"}) == [
        "django_provisioning.E006"
    ]
    assert _ids(USER_ATTRIBUTE_MAP={"active": "is_active"}) == ["django_provisioning.E007"]


def test_check_is_registered_with_django(db):
    with override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESULT": 10}):
        assert "django_provisioning.E001" in {m.id for m in run_checks()}


def test_missing_backend_is_warned():
    assert check_backend() == []
    with override_settings(AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"]):
        (warning,) = check_backend()
    assert warning.id == "django_provisioning.W001"
    assert "ProvisioningBackend" in warning.hint


def test_attribute_map_paths_are_checked():
    username_field = get_user_model().USERNAME_FIELD
    assert _ids(USER_ATTRIBUTE_MAP={"userName": username_field, "shoeSize": "is_active"}) == [
        "django_provisioning.E008"
    ]


@pytest.mark.parametrize("value", ["abc", 0, -5, 2.5, True, None])
def test_numbers_are_checked(value):
    assert _ids(SCIM_MAX_RESULTS=value) == ["django_provisioning.E009"]
    assert _ids(WRITE_ATTEMPTS=value) == ["django_provisioning.E009"]
    assert _ids(RETRY_AFTER=value) == ["django_provisioning.E009"]


@pytest.mark.parametrize("value", ["abc", -0.1, True, None, float("nan")])
def test_retry_backoff_is_checked(value):
    assert _ids(WRITE_RETRY_BACKOFF=value) == ["django_provisioning.E009"]
    assert _ids(WRITE_RETRY_BACKOFF=0) == _ids(WRITE_RETRY_BACKOFF=0.25) == []


def test_connection_values_are_checked():
    assert _ids(CONNECTIONS={"s": {"deprovision_policy": "explode"}}) == [
        "django_provisioning.E010"
    ]
    assert _ids(CONNECTIONS={"s": {"name": "x" * 300, "clock_skew": -1}}) == [
        "django_provisioning.E010",
        "django_provisioning.E010",
    ]
    assert _ids(CONNECTIONS={"s": {"deprovision_policy": "delete", "jit_create": False}}) == []
