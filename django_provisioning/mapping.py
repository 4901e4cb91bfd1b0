"""The attribute map: which SCIM path lands on which user model field, or goes to a callable.

``USER_ATTRIBUTE_MAP`` maps any SCIM path of a User (core, enterprise extension, a custom
extension declared in ``USER_SCHEMA_EXTENSIONS``; see :mod:`.schema.paths` for the grammar) to a
**target**, for both doors (a SAML assertion becomes a SCIM document first):

* a field name of the user model (``"first_name"``): written from the document and read back
  over it (the model wins: what the product changed is what a client reads);
* a callable, or the dotted path of one (``"myproduct.scim.set_cost_center"``), called
  ``target(user, value, connection)`` to write the value wherever the product keeps it (a
  profile row, a related model). It is not read back: a client reads the value as the identity
  provider last sent it.

A dot tells the two apart (field names have none). :func:`configured_attribute_map` is the
map in force; :func:`check_map` the system checks' rules for it.

When no map is configured, the built-in one: ``userName`` on the model's ``USERNAME_FIELD``, the
primary e-mail on the e-mail field, names and ``active``, restricted to the fields the model
has. On a model whose ``USERNAME_FIELD`` *is* the e-mail field, ``userName`` is not mapped: the
local e-mail comes from the primary e-mail and ``userName`` (Entra's UPN, say) round-trips in
the link row, where it is found (see :mod:`.usernames`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import models
from django.utils.module_loading import import_string

from .conf import DEFAULT_USER_ATTRIBUTE_MAP, RELOAD_ON, provisioning_settings
from .exceptions import InvalidPath
from .schema.paths import MappedPath, parse_mapped_path

__all__ = [
    "MappedAttribute",
    "check_map",
    "configured_attribute_map",
    "mapped_attributes",
    "resolve_target",
]

#: ``target(user, value, connection)``: writes one mapped value.
Setter = Callable[[Any, Any, Any], None]


@dataclass(frozen=True)
class MappedAttribute:
    """One entry of the map: the parsed path and its target (a field name or a setter)."""

    key: str
    path: MappedPath
    field: str | None = None
    setter: Setter | None = None

    @property
    def dotted(self) -> str:
        """``name.givenName``, ``urn:...:User:department``: the path without a selector."""
        key = ".".join(p for p in (self.path.attr, self.path.sub) if p)
        return f"{self.path.urn}:{key}" if self.path.urn else key


def resolve_target(target: Any) -> tuple[str | None, Setter | None]:
    """``(field, None)`` for a field name, ``(None, callable)`` for a callable or its path.

    Raises ``ImportError`` / ``TypeError`` for a path that does not import or is not callable.
    """
    if callable(target):
        return None, target
    if isinstance(target, str) and "." in target:
        found = import_string(target)
        if not callable(found):
            raise TypeError(f"{target!r} is not callable")
        return None, found
    if isinstance(target, str):
        return target, None
    raise TypeError(f"{target!r} is neither a field name nor a callable")


def mapped_attributes(mapping: dict[str, Any]) -> tuple[MappedAttribute, ...]:
    """The parsed entries of *mapping* (a map that the system checks have passed)."""
    return _parsed(tuple(mapping.items()))


@lru_cache(maxsize=64)
def _parsed(items: tuple[tuple[str, Any], ...]) -> tuple[MappedAttribute, ...]:
    out = []
    for key, target in items:
        field, setter = resolve_target(target)
        out.append(MappedAttribute(key, parse_mapped_path(key), field, setter))
    return tuple(out)


@lru_cache(maxsize=1)
def configured_attribute_map() -> dict[str, Any]:
    """The attribute map in force (cached; dropped with the settings on ``setting_changed``)."""
    configured = provisioning_settings.USER_ATTRIBUTE_MAP
    if configured is not None:
        return dict(configured)
    model = get_user_model()
    email_field = model.get_email_field_name()
    mapping: dict[str, Any] = {}
    for path, field in DEFAULT_USER_ATTRIBUTE_MAP.items():
        if path == "userName":
            if model.USERNAME_FIELD == email_field:
                # userName is not the e-mail (Entra: a UPN beside the mailbox): the e-mail
                # field takes the primary e-mail, and userName lives in the link row.
                continue
            field = model.USERNAME_FIELD
        elif field == "email":
            field = email_field
        try:
            model._meta.get_field(field)
        except FieldDoesNotExist:
            continue
        mapping[path] = field
    return mapping


def check_map(mapping: dict[str, Any], model: type[models.Model]) -> list[tuple[str, str, str]]:
    """What is wrong with *mapping*: ``(check id, message, hint)`` per problem."""
    problems: list[tuple[str, str, str]] = []
    targets: dict[str, str] = {}
    for path, target in mapping.items():
        try:
            parse_mapped_path(path)
        except (InvalidPath, TypeError) as exc:
            problems.append(
                (
                    "E008",
                    f"USER_ATTRIBUTE_MAP key {path!r} is not a SCIM attribute path: {exc}",
                    'Use e.g. "name.givenName", "emails[primary eq true].value" or '
                    '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".',
                )
            )
        try:
            field, _setter = resolve_target(target)
        except (ImportError, TypeError) as exc:
            problems.append(
                (
                    "E014",
                    f"USER_ATTRIBUTE_MAP maps {path!r} to {target!r}, which is neither a field "
                    f"name nor an importable callable: {exc}",
                    "Give a field of the user model, or a callable(user, value, connection) "
                    "or its dotted path.",
                )
            )
            continue
        if field is None:
            continue
        try:
            model._meta.get_field(field)
        except FieldDoesNotExist:
            problems.append(
                (
                    "E006",
                    f"USER_ATTRIBUTE_MAP maps {path!r} to {field!r}, which "
                    f"{model._meta.label} does not have.",
                    "Map it to a concrete field of the user model, or remove it.",
                )
            )
            continue
        if field in targets:
            problems.append(
                (
                    "E015",
                    f"USER_ATTRIBUTE_MAP maps both {targets[field]!r} and {path!r} onto "
                    f"{field!r}: which one wins would depend on the order of the keys.",
                    "Map each field from one SCIM path; use a callable to combine values.",
                )
            )
        targets[field] = path
    return problems


def _clear(*, setting: str, **kwargs: Any) -> None:
    if setting in RELOAD_ON:
        configured_attribute_map.cache_clear()
        _parsed.cache_clear()  # a path's parse depends on USER_SCHEMA_EXTENSIONS


setting_changed.connect(_clear)


def validate_saml_attribute_mapping(value: Any) -> None:
    """``Connection.attribute_mapping``: SCIM path -> SAML attribute name(s).

    Any writable SCIM path of a User (as ``USER_ATTRIBUTE_MAP`` takes), or ``groups``; each
    value a name or a non-empty list of names. Refused with a ``ValidationError`` naming the
    key, in the admin and, for a connection declared in settings, by system check E010.
    """
    from django.core.exceptions import ValidationError

    if not isinstance(value, dict):
        raise ValidationError('Give a JSON object: {"SCIM path": ["SAML attribute name", ...]}.')
    for key, names in value.items():
        try:
            path = parse_mapped_path(str(key))
        except InvalidPath as exc:
            raise ValidationError(f"{key!r} is not a SCIM attribute path: {exc}") from exc
        if key != "groups":
            problem = _unsettable(path)
            if problem:
                raise ValidationError(f"{key!r}: {problem}")
        if isinstance(names, str):
            names = [names]
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise ValidationError(
                f"{key!r}: give a SAML attribute name or a non-empty list of names."
            )


def _unsettable(path: MappedPath) -> str | None:
    """Why an assertion's value cannot land on *path* (None: it can)."""
    from .schema.definitions import USER_RESOURCE

    attr = USER_RESOURCE.find(path.urn, path.attr)
    if attr is None:
        return "no such attribute."
    if attr.mutability in ("readOnly", "writeOnly"):
        return f"{attr.mutability}: an assertion cannot set it."
    sub = attr.sub(path.sub) if path.sub else None
    if path.sub and sub is None:
        return f"{attr.name} has no sub-attribute {path.sub!r}."
    if sub is not None and sub.mutability in ("readOnly", "writeOnly"):
        return f"{attr.name}.{sub.name} is {sub.mutability}: an assertion cannot set it."
    if attr.type == "complex" and not path.sub:
        if not attr.multi_valued:
            return f"{attr.name} is complex: name one of its sub-attributes."
        if attr.sub("value") is None:
            return f"{attr.name} has no 'value': name one of its sub-attributes."
    if attr.type == "complex" and path.has_selector and attr.sub(path.sub or "value") is None:
        return f"{attr.name} has no sub-attribute {(path.sub or 'value')!r}."
    return None
