"""The ``DJANGO_PROVISIONING`` settings dict: defaults, lazy imports and reload.

Read settings through :data:`provisioning_settings` (``provisioning_settings.ADAPTER``), never
``settings.DJANGO_PROVISIONING`` directly: values are merged with :data:`DEFAULTS`, dotted paths
in :data:`IMPORT_STRINGS` are imported on first access, and the cache is dropped on Django's
``setting_changed`` signal so ``override_settings`` works in tests.

The schema reads no settings (it imports nothing of the package but its exceptions): this
module installs the provider of the User's configured schema extensions in it
(:mod:`django_provisioning.schema.registry`) and resets what it built with the settings.

Unknown keys and import strings that do not import are reported by system checks
(``django_provisioning.E001`` / ``E002``), not at import time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .schema.extensions import build_extensions
from .schema.registry import user_extensions

SETTINGS_NAME = "DJANGO_PROVISIONING"

DEFAULT_USER_ATTRIBUTE_MAP: dict[str, str] = {
    "userName": "username",
    "name.givenName": "first_name",
    "name.familyName": "last_name",
    "emails[primary eq true].value": "email",
    "active": "is_active",
}

DEFAULTS: dict[str, Any] = {
    # Dotted path of the adapter class (see django_provisioning.adapter.DefaultAdapter).
    "ADAPTER": "django_provisioning.adapter.DefaultAdapter",
    # Connections declared in settings: {slug: {"name": ..., "verified_domains": [...], ...}}.
    # Keys are Connection model field names, laid over the connection's row whenever it is
    # read (options left out take the field's default); see django_provisioning.connections.
    "CONNECTIONS": {},
    # SCIM attribute path -> user model field name, or a callable(user, value, connection) or
    # its dotted path (see django_provisioning.mapping). None means "the default map, minus
    # fields the user model does not have".
    "USER_ATTRIBUTE_MAP": None,
    # Times the adapter's generate_username is asked for another local username when the
    # IdP's value is taken or does not fit (see django_provisioning.usernames).
    "USERNAME_ATTEMPTS": 10,
    # Custom schema extensions of the User resource, besides the built-in Enterprise User one:
    # {urn: {"name": ..., "description": ..., "attributes": [{"name": ..., "type": ...,
    # "multiValued": ..., ...}]}}, attributes in the JSON spelling of RFC 7643 §7. They are
    # served by /Schemas and /ResourceTypes, and accepted in bodies, PATCH and filter paths,
    # attributes= and USER_ATTRIBUTE_MAP; see django_provisioning.schema.extensions.
    "USER_SCHEMA_EXTENSIONS": {},
    # SCIM paging: the largest page a client may ask for, and the page size when it asks none.
    "SCIM_MAX_RESULTS": 200,
    "SCIM_DEFAULT_COUNT": 100,
    # Seconds a cursor of cursor pagination (RFC 9865) stays valid: its cursorTimeout.
    "SCIM_CURSOR_TIMEOUT": 3600,
    # Largest list page in bytes: a page of big users is cut short (itemsPerPage says so).
    "SCIM_MAX_RESPONSE_BYTES": 4_194_304,
    # Largest SCIM request body in bytes (413 above it); also the Bulk maxPayloadSize.
    "SCIM_MAX_PAYLOAD_SIZE": 1_048_576,
    # Most operations one POST /Bulk may hold (413 above it): its maxOperations.
    "SCIM_BULK_MAX_OPERATIONS": 500,
    # Most work one PATCH may ask for, in units of one value examined by one filter term
    # (operations x values x terms; 400 tooMany above it, before any work is done).
    "SCIM_PATCH_MAX_WORK": 5_000,
    # last_used_at of a token is written at most once per this many seconds.
    "SCIM_TOKEN_LAST_USED_INTERVAL": 60,
    # Failed SCIM authentications allowed per client address ("N/s|min|hour|day"); past it,
    # requests without a valid token get 429. None turns the throttle off.
    "SCIM_FAILED_AUTH_RATE": "30/min",
    # Refused authentications and sign-ins written to the audit trail, at most this many per
    # door and client address, and per door and connection (unknown counts as one).
    "REFUSAL_AUDIT_RATE": "10/min",
    "REFUSAL_AUDIT_CONNECTION_RATE": "60/min",
    # The Django cache (alias in CACHES) that keeps these counters; shared by all processes.
    "RATE_LIMIT_CACHE": "default",
    # SAML service provider, shared by every connection unless a connection has its own.
    "SAML_SP_ENTITY_ID": None,  # None: the metadata URL of the connection
    "SAML_SP_CERTIFICATE": "",
    "SAML_SP_PRIVATE_KEY": "",
    "SAML_MAX_RESPONSE_SIZE": 262_144,
    # Seconds after its IssueInstant (plus the connection's clock skew) that an assertion is
    # still accepted, whatever its NotOnOrAfter says; its replay-cache row lives as long.
    "SAML_MAX_ASSERTION_AGE": 600,
    # Hosts (besides the request's own) that RelayState/next may redirect to.
    "SAML_ALLOWED_REDIRECT_HOSTS": [],
    # Where to go after sign-in when no safe next/RelayState is given (None: LOGIN_REDIRECT_URL).
    "SAML_LOGIN_REDIRECT_URL": None,
    "SAML_LOGOUT_REDIRECT_URL": "/",
    # Seconds an AuthnRequest id stays valid in the browser session.
    "SAML_REQUEST_TTL": 600,
    # IdP metadata fetched from a URL (import_idp_metadata, refresh_idp_metadata, the setup
    # portal): seconds to wait (per network wait and for the whole fetch) and the largest body.
    "METADATA_FETCH_TIMEOUT": 10,
    "METADATA_MAX_BYTES": 1_048_576,
    # Hosts ("host" or "host:port") a metadata URL given in the setup portal may name although
    # they resolve to a private or loopback address, over http:// too. Honoured only while
    # settings.DEBUG is true (the demo's development IdP on 127.0.0.1).
    "METADATA_FETCH_ALLOWED_HOSTS": [],
    # Dotted path of a callable(name) -> list of the TXT strings of that DNS name ([] when it
    # has none), that domain verification asks (django_provisioning.domains).
    "DOMAIN_TXT_RESOLVER": "django_provisioning.domains.dns_txt_records",
    # Attempts a core write transaction makes when the database reports a deadlock, a
    # serialization failure or a SQLite lock, and the pause before the second attempt in
    # seconds (doubled for each further one, with jitter). See django_provisioning.db.
    "WRITE_ATTEMPTS": 3,
    "WRITE_RETRY_BACKOFF": 0.05,
    # Retry-After (seconds) of the 503 answered when the database is unavailable or locked.
    "RETRY_AFTER": 5,
    # The self-serve setup portal (docs/portal.rst). The scheme and host of the product, e.g.
    # "https://app.example.com": setup links are this + the portal's URL path. None: no links.
    "PORTAL_BASE_URL": None,
    # Hours a new setup link stays valid unless its creator says otherwise.
    "PORTAL_LINK_EXPIRY_HOURS": 72,
    # SCIM requests kept per connection (in RATE_LIMIT_CACHE) for the portal's live status.
    "PORTAL_RECENT_SCIM_REQUESTS": 20,
}

IMPORT_STRINGS: frozenset[str] = frozenset({"ADAPTER", "DOMAIN_TXT_RESOLVER"})


class ProvisioningSettings:
    """Attribute access to the merged settings, with lazy imports and a reload hook."""

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self.defaults = defaults or DEFAULTS
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        if not hasattr(self, "_user_settings"):
            self._user_settings: dict[str, Any] = dict(getattr(settings, SETTINGS_NAME, {}) or {})
        return self._user_settings

    def __getattr__(self, attr: str) -> Any:
        if attr not in self.defaults:
            raise AttributeError(f"Invalid {SETTINGS_NAME} setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
        if attr in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        self._cached.add(attr)
        setattr(self, attr, value)
        return value

    def reload(self) -> None:
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()
        if hasattr(self, "_user_settings"):
            del self._user_settings


provisioning_settings = ProvisioningSettings()


#: Django settings whose change drops what is cached from them (here and in the adapter).
RELOAD_ON: frozenset[str] = frozenset({SETTINGS_NAME, "AUTH_USER_MODEL", "LOGIN_REDIRECT_URL"})


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in RELOAD_ON:
        provisioning_settings.reload()
        user_extensions.reset()


def _configured_user_extensions() -> tuple[Any, ...]:
    """The schema's provider of ``USER_SCHEMA_EXTENSIONS`` (it cannot read settings itself)."""
    return build_extensions(provisioning_settings.USER_SCHEMA_EXTENSIONS)


setting_changed.connect(_reload)
user_extensions.install(_configured_user_extensions)
