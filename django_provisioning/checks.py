"""System checks for the ``DJANGO_PROVISIONING`` settings (ids ``django_provisioning.E0xx``,
warnings ``W0xx``). What is wrong with ``USER_SCHEMA_EXTENSIONS`` is found by
:func:`.schema.extensions.extension_problems` and reported here (E016-E021)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .backends import BACKEND
from .conf import DEFAULTS, IMPORT_STRINGS, SETTINGS_NAME
from .declared import TENANT_KEY
from .models import CONNECTION_OPTIONS
from .schema.extensions import extension_problems

#: What a declared connection may name: its options (Connection fields) and its tenant.
CONNECTION_KEYS = frozenset(CONNECTION_OPTIONS) | {TENANT_KEY}


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user = getattr(settings, SETTINGS_NAME, {}) or {}
    errors: list[CheckMessage] = []
    if not isinstance(user, dict):
        return [
            Error(
                f"{SETTINGS_NAME} must be a dict.",
                hint="See the settings reference in the django-provisioning docs.",
                id="django_provisioning.E000",
            )
        ]
    for key in sorted(set(user) - set(DEFAULTS)):
        errors.append(
            Error(
                f"Unknown key {key!r} in {SETTINGS_NAME}.",
                hint="Known keys: " + ", ".join(sorted(DEFAULTS)) + ".",
                obj=SETTINGS_NAME,
                id="django_provisioning.E001",
            )
        )
    for key in sorted(IMPORT_STRINGS & set(user)):
        value = user[key]
        if isinstance(value, str):
            try:
                import_string(value)
            except ImportError as exc:
                errors.append(
                    Error(
                        f"{SETTINGS_NAME}[{key!r}] = {value!r} cannot be imported: {exc}.",
                        hint=f"Give a dotted path that imports, e.g. {DEFAULTS[key]!r}.",
                        obj=SETTINGS_NAME,
                        id="django_provisioning.E002",
                    )
                )
    connections = user.get("CONNECTIONS", {})
    if not isinstance(connections, dict):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['CONNECTIONS'] must be a dict of slug -> options.",
                hint='For example {"acme": {"name": "Acme", "verified_domains": ["acme.com"]}}.',
                id="django_provisioning.E003",
            )
        )
    else:
        for slug, options in connections.items():
            unknown = set(options or {}) - CONNECTION_KEYS
            if unknown:
                errors.append(
                    Error(
                        f"Connection {slug!r} in {SETTINGS_NAME}['CONNECTIONS'] has unknown "
                        f"options: {', '.join(sorted(unknown))}.",
                        hint="Known options: " + ", ".join(sorted(CONNECTION_KEYS)) + ".",
                        id="django_provisioning.E004",
                    )
                )
    if "USER_SCHEMA_EXTENSIONS" in user:
        errors.extend(_check_extensions(user["USER_SCHEMA_EXTENSIONS"]))
    mapping = user.get("USER_ATTRIBUTE_MAP")
    if mapping is not None:
        errors.extend(_check_attribute_map(mapping))
    errors.extend(_check_numbers(user))
    errors.extend(_check_rates(user))
    if isinstance(connections, dict):
        errors.extend(_check_connection_values(connections))
        errors.extend(_check_tenants(connections))
    return errors


#: The check id of each kind of problem of USER_SCHEMA_EXTENSIONS (see schema.extensions.Problem).
EXTENSION_CHECK_IDS = {
    "setting": "E016",
    "urn": "E017",
    "attribute": "E018",
    "type": "E019",
    "characteristic": "E020",
    "sub_attributes": "E021",
}


def _check_extensions(value: Any) -> list[CheckMessage]:
    return [
        Error(
            f"{SETTINGS_NAME}['USER_SCHEMA_EXTENSIONS']: {problem.message}",
            hint=problem.hint,
            obj=SETTINGS_NAME,
            id=f"django_provisioning.{EXTENSION_CHECK_IDS[problem.kind]}",
        )
        for problem in extension_problems(value)
    ]


POSITIVE_INTEGERS = (
    "SCIM_MAX_RESULTS",
    "SCIM_DEFAULT_COUNT",
    "SCIM_MAX_RESPONSE_BYTES",
    "SCIM_MAX_PAYLOAD_SIZE",
    "SCIM_PATCH_MAX_WORK",
    "SCIM_TOKEN_LAST_USED_INTERVAL",
    "SAML_MAX_RESPONSE_SIZE",
    "SAML_REQUEST_TTL",
    "SAML_MAX_ASSERTION_AGE",
    "WRITE_ATTEMPTS",
    "RETRY_AFTER",
    "USERNAME_ATTEMPTS",
    "SCIM_BULK_MAX_OPERATIONS",
    "METADATA_MAX_BYTES",
)
#: Seconds that may be zero or a fraction.
NON_NEGATIVE_NUMBERS = ("WRITE_RETRY_BACKOFF",)
#: Seconds that may be a fraction but not zero.
POSITIVE_NUMBERS = ("METADATA_FETCH_TIMEOUT",)


def _check_numbers(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = [
        Error(
            f"{SETTINGS_NAME}[{key!r}] must be a positive integer, not {user[key]!r}.",
            hint=f"The default is {DEFAULTS[key]!r}.",
            obj=SETTINGS_NAME,
            id="django_provisioning.E009",
        )
        for key in POSITIVE_INTEGERS
        if key in user
        and (isinstance(user[key], bool) or not isinstance(user[key], int) or user[key] < 1)
    ]
    errors += [
        Error(
            f"{SETTINGS_NAME}[{key!r}] must be a number of seconds (0 or more), not {user[key]!r}.",
            hint=f"The default is {DEFAULTS[key]!r}.",
            obj=SETTINGS_NAME,
            id="django_provisioning.E009",
        )
        for key in NON_NEGATIVE_NUMBERS + POSITIVE_NUMBERS
        if key in user
        and (
            isinstance(user[key], bool)
            or not isinstance(user[key], (int, float))
            or not user[key] >= 0
            or (key in POSITIVE_NUMBERS and not user[key] > 0)
        )
    ]
    return errors


RATES = ("SCIM_FAILED_AUTH_RATE", "REFUSAL_AUDIT_RATE", "REFUSAL_AUDIT_CONNECTION_RATE")
OPTIONAL_RATES = frozenset({"SCIM_FAILED_AUTH_RATE"})  # None turns the throttle off


def _check_rates(user: dict[str, Any]) -> list[CheckMessage]:
    """Rates are "N/period" (s, min, hour, day); the cache alias they use must exist."""
    from .audit import parse_rate

    errors: list[CheckMessage] = []
    for key in RATES:
        if key not in user or (user[key] is None and key in OPTIONAL_RATES):
            continue
        try:
            parse_rate(user[key])
        except ValueError:
            errors.append(
                Error(
                    f"{SETTINGS_NAME}[{key!r}] = {user[key]!r} is not a rate.",
                    hint="Give a count per period, e.g. '30/min' (periods: s, min, hour, day)"
                    + (", or None to turn it off." if key in OPTIONAL_RATES else "."),
                    obj=SETTINGS_NAME,
                    id="django_provisioning.E011",
                )
            )
    alias = user.get("RATE_LIMIT_CACHE", DEFAULTS["RATE_LIMIT_CACHE"])
    if alias not in settings.CACHES:
        errors.append(
            Error(
                f"{SETTINGS_NAME}['RATE_LIMIT_CACHE'] = {alias!r} is not an alias in CACHES.",
                hint="Name a cache of the CACHES setting, shared by all processes.",
                obj=SETTINGS_NAME,
                id="django_provisioning.E012",
            )
        )
    return errors


def _check_connection_values(connections: dict[str, Any]) -> list[CheckMessage]:
    """Each declared option must be a value its Connection field accepts (choices, types)."""
    from django.core.exceptions import FieldDoesNotExist, ValidationError

    from .models import Connection

    errors: list[CheckMessage] = []
    for slug, options in connections.items():
        for key, value in (options or {}).items():
            try:
                field = Connection._meta.get_field(key)
            except FieldDoesNotExist:
                continue  # reported as E004
            try:
                field.clean(value, None)  # type: ignore[union-attr]
            except ValidationError as exc:
                errors.append(
                    Error(
                        f"Connection {slug!r}: {key} = {value!r} is not valid: "
                        f"{' '.join(exc.messages)}",
                        hint=_choices_hint(field),
                        obj=SETTINGS_NAME,
                        id="django_provisioning.E010",
                    )
                )
    return errors


def _check_tenants(connections: dict[str, Any]) -> list[CheckMessage]:
    """A declared tenant is a lookup (a slug or a key) that the configured adapter resolves."""
    from .adapter import DefaultAdapter
    from .conf import provisioning_settings

    errors: list[CheckMessage] = []
    named = []
    for slug, options in connections.items():
        if not isinstance(options, dict) or options.get(TENANT_KEY) is None:
            continue
        value = options[TENANT_KEY]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            errors.append(
                Error(
                    f"Connection {slug!r}: {TENANT_KEY} = {value!r} is not a tenant lookup.",
                    hint="Name the tenant by a non-empty string or an integer (a slug or a "
                    "primary key) that your adapter's get_tenant resolves, or leave it out.",
                    obj=SETTINGS_NAME,
                    id="django_provisioning.E013",
                )
            )
        named.append(slug)
    try:
        adapter = provisioning_settings.ADAPTER
    except ImportError:
        return errors  # reported as E002
    if named and getattr(adapter, "get_tenant", None) is DefaultAdapter.get_tenant:
        errors.append(
            Warning(
                f"CONNECTIONS names a tenant for {', '.join(repr(s) for s in named)}, but the "
                "adapter does not override get_tenant, so every connection has no tenant.",
                hint="Point DJANGO_PROVISIONING['ADAPTER'] at an adapter whose get_tenant "
                "resolves connection.declared_tenant, or remove the tenant keys.",
                obj=SETTINGS_NAME,
                id="django_provisioning.W004",
            )
        )
    return errors


def _choices_hint(field: Any) -> str:
    if getattr(field, "choices", None):
        return "Choose one of: " + ", ".join(repr(c[0]) for c in field.choices) + "."
    return f"Give a value of the type of Connection.{field.name}."


def _check_attribute_map(mapping: Any) -> list[CheckMessage]:
    from django.contrib.auth import get_user_model

    from .mapping import check_map

    if not isinstance(mapping, dict):
        return [
            Error(
                f"{SETTINGS_NAME}['USER_ATTRIBUTE_MAP'] must be a dict of SCIM path -> field.",
                hint='For example {"userName": "email", "name.givenName": "first_name"}.',
                id="django_provisioning.E005",
            )
        ]
    return [
        Error(message, hint=hint, obj=SETTINGS_NAME, id=f"django_provisioning.{check_id}")
        for check_id, message, hint in check_map(mapping, get_user_model())
    ]


@register(Tags.security)
def check_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """SAML sign-in logs users in through our backend; without it every sign-in fails."""
    if BACKEND in settings.AUTHENTICATION_BACKENDS:
        return []
    return [
        Warning(
            f"{BACKEND} is not in AUTHENTICATION_BACKENDS: SAML sign-in cannot log anyone in.",
            hint=f"Add {BACKEND!r} to AUTHENTICATION_BACKENDS (keep ModelBackend for passwords).",
            id="django_provisioning.W001",
        )
    ]


PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.security, Tags.caches)
def check_rate_limit_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The failed-authentication throttle counts in a cache; each process having its own
    (or none) lets a guesser multiply its budget by the number of processes."""
    from .conf import provisioning_settings

    if settings.DEBUG or provisioning_settings.SCIM_FAILED_AUTH_RATE is None:
        return []
    warnings: list[CheckMessage] = []
    alias = provisioning_settings.RATE_LIMIT_CACHE
    backend = (settings.CACHES.get(alias) or {}).get("BACKEND", "")
    if _is_process_local(backend):
        warnings.append(
            Warning(
                f"The cache {alias!r} ({backend.rsplit('.', 1)[-1]}) keeps the counters of the "
                "failed-authentication throttle and of the refusal audit limits in each process "
                "(or nowhere): several processes do not share them.",
                hint="Point RATE_LIMIT_CACHE at a shared cache (Redis, Memcached, database), "
                "e.g. django.core.cache.backends.redis.RedisCache; see the security docs.",
                obj=SETTINGS_NAME,
                id="django_provisioning.W002",
            )
        )
    from rest_framework.settings import api_settings

    if api_settings.NUM_PROXIES is None:
        warnings.append(
            Warning(
                "REST_FRAMEWORK['NUM_PROXIES'] is not set, so the failed-authentication throttle "
                "identifies clients by their X-Forwarded-For header, which any client can forge "
                "to get a fresh budget with every request.",
                hint="Set REST_FRAMEWORK = {'NUM_PROXIES': 0} when clients connect directly, or "
                "the number of proxies in front of Django (their X-Forwarded-For is trusted).",
                id="django_provisioning.W003",
            )
        )
    return warnings


def _is_process_local(backend: str) -> bool:
    """Whether the cache backend class *backend* (a dotted path) is per process or nothing."""
    from django.core.cache.backends.dummy import DummyCache
    from django.core.cache.backends.locmem import LocMemCache

    if backend in PROCESS_LOCAL_CACHES:
        return True
    try:
        cls = import_string(backend)
    except ImportError:
        return False  # Django's own cache checks report it
    return isinstance(cls, type) and issubclass(cls, (LocMemCache, DummyCache))
