"""System checks for the ``DJANGO_PROVISIONING`` settings (ids ``django_provisioning.E0xx``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .backends import BACKEND
from .conf import DEFAULTS, IMPORT_STRINGS, SETTINGS_NAME
from .exceptions import InvalidPath
from .models import CONNECTION_OPTIONS
from .schema.paths import parse_mapped_path

CONNECTION_KEYS = frozenset(CONNECTION_OPTIONS)


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
                        hint=f"Give the dotted path of a class, e.g. {DEFAULTS[key]!r}.",
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
    mapping = user.get("USER_ATTRIBUTE_MAP")
    if mapping is not None:
        errors.extend(_check_attribute_map(mapping))
    errors.extend(_check_numbers(user))
    if isinstance(connections, dict):
        errors.extend(_check_connection_values(connections))
    return errors


POSITIVE_INTEGERS = (
    "SCIM_MAX_RESULTS",
    "SCIM_DEFAULT_COUNT",
    "SCIM_MAX_PAYLOAD_SIZE",
    "SCIM_TOKEN_LAST_USED_INTERVAL",
    "SAML_MAX_RESPONSE_SIZE",
    "SAML_REQUEST_TTL",
)


def _check_numbers(user: dict[str, Any]) -> list[CheckMessage]:
    return [
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


def _choices_hint(field: Any) -> str:
    if getattr(field, "choices", None):
        return "Choose one of: " + ", ".join(repr(c[0]) for c in field.choices) + "."
    return f"Give a value of the type of Connection.{field.name}."


def _check_attribute_map(mapping: Any) -> list[CheckMessage]:
    from django.contrib.auth import get_user_model
    from django.core.exceptions import FieldDoesNotExist

    if not isinstance(mapping, dict):
        return [
            Error(
                f"{SETTINGS_NAME}['USER_ATTRIBUTE_MAP'] must be a dict of SCIM path -> field.",
                hint='For example {"userName": "email", "name.givenName": "first_name"}.',
                id="django_provisioning.E005",
            )
        ]
    errors: list[CheckMessage] = []
    model = get_user_model()
    for path, field in mapping.items():
        try:
            model._meta.get_field(field)
        except FieldDoesNotExist:
            errors.append(
                Error(
                    f"USER_ATTRIBUTE_MAP maps {path!r} to {field!r}, which "
                    f"{model._meta.label} does not have.",
                    hint="Map it to a concrete field of the user model, or remove it.",
                    id="django_provisioning.E006",
                )
            )
    for path in mapping:
        try:
            parse_mapped_path(path)
        except InvalidPath as exc:
            errors.append(
                Error(
                    f"USER_ATTRIBUTE_MAP key {path!r} is not a SCIM attribute path: {exc}",
                    hint='Use e.g. "name.givenName", "emails[primary eq true].value" or '
                    '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".',
                    id="django_provisioning.E008",
                )
            )
    if "userName" not in mapping:
        errors.append(
            Error(
                "USER_ATTRIBUTE_MAP does not map 'userName'.",
                hint=f"Map it to the user model's USERNAME_FIELD ({model.USERNAME_FIELD!r}).",
                id="django_provisioning.E007",
            )
        )
    return errors


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
