"""Connections declared in settings: their options, laid over the database rows.

A connection in ``DJANGO_PROVISIONING["CONNECTIONS"]`` also has a row (see
:func:`django_provisioning.connections.get_connection`), but the row's option columns are never
trusted for it: whenever a ``Connection`` is loaded from the database, by any path (a queryset,
``select_related("connection")``, a foreign key), ``Connection.from_db`` calls
:func:`effective`, which lays the settings over it in memory. An option the settings leave out
takes the model field's default, not whatever the row last held. Nothing is written per request.

A declaration may also name the connection's tenant in the product, ``"tenant"``
(:data:`TENANT_KEY`): not a ``Connection`` field but a lookup (an organization's slug, say)
that the adapter's ``get_tenant`` resolves, read through ``Connection.declared_tenant``.

A row marked ``from_settings`` whose slug is no longer declared is *retired*: it reads as
inactive, so its tokens and sign-ins are refused, until it is declared again.

The declared options are resolved once per process and dropped on Django's
``setting_changed`` signal. This module imports no model (the model imports it): the
``Connection`` class is looked up in the app registry when the options are first resolved.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.apps import apps
from django.core.signals import setting_changed

from .conf import RELOAD_ON, provisioning_settings

if TYPE_CHECKING:
    from django.db import models


class _Connection(Protocol):
    """What this module reads of a ``Connection`` (not imported: the model imports this module)."""

    slug: str
    from_settings: bool
    is_active: bool


ConnectionT = TypeVar("ConnectionT", bound=_Connection)


#: The key of a declared connection that names its tenant: a lookup for the adapter's
#: ``get_tenant``, not a ``Connection`` field (so it is never written to the row).
TENANT_KEY = "tenant"


def connection_options(model: type[models.Model]) -> tuple[str, ...]:
    """The fields a connection is configured by, in model order.

    The keys a connection in ``DJANGO_PROVISIONING["CONNECTIONS"]`` may set, and the admin
    form's fields besides ``slug``.
    """
    return tuple(
        field.name
        for field in model._meta.concrete_fields
        if field.editable and field.name not in ("id", "slug")
    )


def normalize_domains(domains: Any) -> list[str]:
    """*domains* (a connection's ``verified_domains``) lowercased, stripped, without repeats."""
    if not isinstance(domains, (list, tuple)):
        return []
    found: dict[str, None] = {}
    for value in domains:
        domain = str(value).strip().lower().rstrip(".")
        if domain:
            found[domain] = None
    return list(found)


def settings_connections() -> dict[str, dict[str, Any]]:
    """The ``CONNECTIONS`` setting as written: slug -> the options it names."""
    declared = provisioning_settings.CONNECTIONS or {}
    if not isinstance(declared, dict):
        return {}  # reported by system check E003
    return {str(slug): dict(options or {}) for slug, options in declared.items()}


@cache
def declared_connections() -> Mapping[str, Mapping[str, Any]]:
    """slug -> the value of every connection option, for each connection declared in settings.

    Options the settings do not name take the model field's default (``name``: the slug), so
    removing a key from settings resets it. Cached per process; cleared on ``setting_changed``.
    """
    model = apps.get_model("django_provisioning", "Connection")
    resolved: dict[str, dict[str, Any]] = {}
    for slug, options in settings_connections().items():
        values: dict[str, Any] = {}
        for name in connection_options(model):
            if name in options:
                values[name] = options[name]
            elif name == "name":
                values[name] = slug
            else:
                field = model._meta.get_field(name)
                values[name] = field.get_default()  # type: ignore[union-attr]
        values["from_settings"] = True
        resolved[slug] = values
    return resolved


@cache
def declared_tenants() -> Mapping[str, Any]:
    """slug -> the tenant lookup named by each declared connection that names one.

    Cached per process like :func:`declared_connections`; cleared on ``setting_changed``.
    """
    return {
        slug: options[TENANT_KEY]
        for slug, options in settings_connections().items()
        if options.get(TENANT_KEY) is not None
    }


def declared_tenant(slug: str) -> Any:
    """The tenant lookup the declaration of connection *slug* names, or None.

    None for a connection created in the database, a retired one, or a declared one that
    names no tenant (a single-tenant site).
    """
    return declared_tenants().get(slug)


def is_retired(connection: _Connection) -> bool:
    """True for a row created from settings whose slug the settings no longer declare."""
    return connection.from_settings and connection.slug not in declared_connections()


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def effective(connection: ConnectionT) -> ConnectionT:
    """*connection* as the settings say it is, changed in memory only; returns it.

    A declared connection gets every option from settings (defaults for those not named), a
    retired one reads as inactive, a database connection is left as it is. Idempotent and
    free of queries; :meth:`Connection.from_db` calls it for every row loaded.
    """
    declared = declared_connections().get(connection.slug)
    if declared is not None:
        for name, value in declared.items():
            # A copy: code that changes a list or dict of one request's connection must not
            # change the cached settings of every later request. (A string, a number, a
            # boolean or None cannot be changed: no copy; every token check runs this.)
            if type(value) not in _IMMUTABLE:
                value = _copy(value)
            setattr(connection, name, value)
    elif connection.from_settings:
        connection.is_active = False
    return connection


def _copy(value: Any) -> Any:
    """A deep copy of *value*: settings' lists and dicts of strings are copied by hand (a
    third of what ``copy.deepcopy`` takes; every token check copies them), anything else by
    ``copy.deepcopy``."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is list:
        return [_copy(item) for item in value]
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    return copy.deepcopy(value)


def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting in RELOAD_ON:
        declared_connections.cache_clear()
        declared_tenants.cache_clear()


setting_changed.connect(_clear_cache)
