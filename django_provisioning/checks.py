"""System checks for the ``DJANGO_PROVISIONING`` settings (ids ``django_provisioning.E0xx``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, IMPORT_STRINGS, SETTINGS_NAME

CONNECTION_KEYS = frozenset(
    {
        "name",
        "is_active",
        "deprovision_policy",
        "verified_domains",
        "idp_entity_id",
        "idp_sso_url",
        "idp_slo_url",
        "idp_x509_certs",
        "name_id_format",
        "sign_authn_requests",
        "want_assertions_signed",
        "want_messages_signed",
        "want_assertions_encrypted",
        "sp_certificate",
        "sp_private_key",
        "clock_skew",
        "allow_idp_initiated",
        "jit_create",
        "jit_update",
        "link_by_email",
        "attribute_mapping",
        "groups_attribute",
        "group_mapping",
    }
)


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
    return errors


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
    if "userName" not in mapping:
        errors.append(
            Error(
                "USER_ATTRIBUTE_MAP does not map 'userName'.",
                hint=f"Map it to the user model's USERNAME_FIELD ({model.USERNAME_FIELD!r}).",
                id="django_provisioning.E007",
            )
        )
    return errors


BACKEND = "django_provisioning.backends.ProvisioningBackend"


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
