from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import run_checks
from django.test import override_settings

from django_provisioning.adapter import DefaultAdapter, get_adapter
from django_provisioning.checks import check_backend, check_rate_limit_cache, check_settings
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
    assert _ids(DOMAIN_TXT_RESOLVER="nowhere.txt") == ["django_provisioning.E002"]
    assert _ids(DOMAIN_TXT_RESOLVER="tests.test_domain_dns.fake_txt") == []


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
    # No userName: it round-trips in the link row, and the local username takes it.
    assert _ids(USER_ATTRIBUTE_MAP={"active": "is_active"}) == []


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


@pytest.mark.parametrize("value", ["600", 0, -1, None])
def test_metadata_fetch_limits_are_checked(value):
    assert _ids(METADATA_MAX_BYTES=value) == ["django_provisioning.E009"]
    assert _ids(METADATA_FETCH_TIMEOUT=value) == ["django_provisioning.E009"]
    assert _ids(METADATA_MAX_BYTES=4096, METADATA_FETCH_TIMEOUT=2.5) == []


@pytest.mark.parametrize("value", ["600", 0, -1, None])
def test_max_assertion_age_is_checked(value):
    assert _ids(SAML_MAX_ASSERTION_AGE=value) == ["django_provisioning.E009"]
    assert _ids(SAML_MAX_ASSERTION_AGE=300) == []


def test_connection_values_are_checked():
    assert _ids(CONNECTIONS={"s": {"deprovision_policy": "explode"}}) == [
        "django_provisioning.E010"
    ]
    assert _ids(CONNECTIONS={"s": {"name": "x" * 300, "clock_skew": -1}}) == [
        "django_provisioning.E010",
        "django_provisioning.E010",
    ]
    assert _ids(CONNECTIONS={"s": {"deprovision_policy": "delete", "jit_create": False}}) == []


@pytest.mark.parametrize(
    "key", ["SCIM_FAILED_AUTH_RATE", "REFUSAL_AUDIT_RATE", "REFUSAL_AUDIT_CONNECTION_RATE"]
)
@pytest.mark.parametrize("value", ["30/month", "30", "0/min", 30, "30 per minute"])
def test_rates_are_checked(key, value):
    (message,) = [m for m in _messages(**{key: value}) if m.id == "django_provisioning.E011"]
    assert key in message.msg and "30/min" in message.hint


def test_only_the_throttle_rate_may_be_none():
    assert _ids(SCIM_FAILED_AUTH_RATE=None) == []
    assert _ids(REFUSAL_AUDIT_RATE=None) == ["django_provisioning.E011"]
    assert _ids(SCIM_FAILED_AUTH_RATE="5/s", REFUSAL_AUDIT_RATE="1/day") == []


def test_rate_limit_cache_must_be_a_cache_alias():
    assert _ids(RATE_LIMIT_CACHE="nowhere") == ["django_provisioning.E012"]


def _messages(**settings):
    with override_settings(DJANGO_PROVISIONING=settings):
        return check_settings()


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
DATABASE_CACHE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "c"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
BEHIND_ONE_PROXY = {"NUM_PROXIES": 1}


class PerProcessCache(LocMemCache):
    """A project's own subclass is as process-local as its parent."""


def _cache_warnings(caches, debug=False, rest_framework=BEHIND_ONE_PROXY, **provisioning):
    with override_settings(
        CACHES=caches,
        DEBUG=debug,
        REST_FRAMEWORK=rest_framework,
        DJANGO_PROVISIONING=provisioning,
    ):
        return [m.id for m in check_rate_limit_cache()]


@pytest.mark.parametrize(
    "cache", [LOCMEM, DUMMY, {"BACKEND": "tests.test_conf.PerProcessCache"}], ids=str
)
def test_process_local_rate_limit_cache_is_warned(cache):
    assert _cache_warnings({"default": cache}) == ["django_provisioning.W002"]


@pytest.mark.parametrize("cache", [DATABASE_CACHE, REDIS], ids=str)
def test_shared_rate_limit_cache_is_not_warned(cache):
    assert _cache_warnings({"default": cache}) == []


def test_the_cache_warning_follows_rate_limit_cache():
    caches = {"default": REDIS, "local": LOCMEM}
    assert _cache_warnings(caches) == []
    assert _cache_warnings(caches, RATE_LIMIT_CACHE="local") == ["django_provisioning.W002"]
    caches = {"default": LOCMEM, "shared": REDIS}
    assert _cache_warnings(caches, RATE_LIMIT_CACHE="shared") == []


def test_cache_warnings_are_silent_under_debug_or_without_the_throttle():
    assert _cache_warnings({"default": LOCMEM}, debug=True, rest_framework={}) == []
    assert _cache_warnings({"default": LOCMEM}, rest_framework={}, SCIM_FAILED_AUTH_RATE=None) == []


def test_unset_num_proxies_is_warned():
    assert _cache_warnings({"default": REDIS}, rest_framework={}) == ["django_provisioning.W003"]
    assert _cache_warnings({"default": REDIS}, rest_framework={"NUM_PROXIES": 0}) == []


def test_cache_check_is_registered_with_django(db):
    with override_settings(CACHES={"default": LOCMEM}, DEBUG=False):
        assert "django_provisioning.W002" in {m.id for m in run_checks()}
