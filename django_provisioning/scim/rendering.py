"""Render link rows as SCIM User resources, and keep what a request asks for of them.

:func:`render_user` is the full representation of one user (RFC 7643 §3.1 common attributes,
§4.1 User); :class:`Projection` applies the request's ``attributes`` / ``excludedAttributes``
to it (RFC 7644 §3.4.2.5, §3.9). What a response carries is decided by each attribute's
``returned`` characteristic (RFC 7643 §2.4, §7) together with the two parameters:

- ``always`` (``id``, and ``schemas``, which is not a schema attribute) is returned whatever
  the parameters say; ``never`` (``password``) never is.
- ``default`` is returned unless excluded, or unless ``attributes`` is given without it.
- ``request`` is returned only when named in ``attributes``.
- ``meta`` is ``returned: default`` in our schema data, so it follows the default rule.

Decisions where the RFC leaves room:

- When both parameters are given, ``attributes`` wins and ``excludedAttributes`` is ignored:
  ``attributes`` replaces the default set, and ``excludedAttributes`` is defined only as a
  subtraction from that default set (§3.4.2.5); the RFC gives no rule for combining them.
- Names are case-insensitive and may be URN-qualified (``urn:...:User:userName``,
  ``urn:...:enterprise:2.0:User:department``, or the extension URN alone for the whole
  extension). Syntactically malformed names (``a.b.c``, ``emails[type eq "work"]``, a
  non-string) are ``invalidValue``; well-formed names of attributes the resource does not
  have are ignored, as are names qualified by a schema URN it does not use.
- An empty list (or ``None``) means "parameter not given".
- An extension left with no attributes is dropped, and its URN is removed from ``schemas``.
- Naming a sub-attribute (``name.givenName``) returns the parent with only that
  sub-attribute; for multi-valued attributes every element keeps only the named ones.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F
from django.db.models.lookups import Exact
from django.urls import reverse
from rest_framework.request import Request

from ..adapter import get_adapter
from ..compiled import CompiledQuery, Slot
from ..db import NotIndexed
from ..local_groups import groups_through
from ..models import Connection, ExternalGroup, ExternalIdentity
from ..schema.definitions import USER_RESOURCE, Attribute, ResourceType, split_urn
from .errors import InvalidValue

MAX_LENGTH = 4096
_NAME_RE = re.compile(r"^(?:\$ref|[A-Za-z][A-Za-z0-9_-]*)$")


def base_url(request: Request | Any) -> str:
    """The absolute URL of the SCIM root (where this app's urls are included), worked out
    once per request (a list page of 100 users would otherwise reverse it 200 times)."""
    url = getattr(request, "_dp_scim_base_url", None)
    if url is None:
        url = request.build_absolute_uri(reverse("django_provisioning_scim:root"))
        request._dp_scim_base_url = url  # type: ignore[union-attr]
    return url


def user_location(request: Request | Any, identity: ExternalIdentity) -> str:
    return f"{base_url(request)}Users/{identity.scim_id}"


def load_groups(
    connection: Connection, identities: Sequence[ExternalIdentity]
) -> dict[Any, list[dict[str, Any]]]:
    """The connection's groups of each user, in one query (the ``groups`` attribute)."""
    return groups_of_users(connection, [i.user_id for i in identities])


def _groups_rows(
    through: Any, user_col: str, group_col: str, connection_pk: Any, users: Any
) -> Any:
    """The (user pk, group id, display name) rows of the users matched by *users*."""
    group = group_col.removesuffix("_id")
    return (
        through.objects.filter(
            Exact(NotIndexed(F(f"{group}__external_groups__connection")), connection_pk),
            **users,
        )
        .values_list(
            user_col,
            f"{group}__external_groups__scim_id",
            f"{group}__external_groups__display_name",
        )
        .order_by(f"{group}__external_groups__display_name")
    )


#: The groups of one user (every single-user response), compiled once per groups table.
_ONE_USERS_GROUPS: dict[Any, CompiledQuery] = {}


def _one_users_groups(through: Any, user_col: str, group_col: str) -> CompiledQuery:
    query = _ONE_USERS_GROUPS.get(through)
    if query is None:
        query = _ONE_USERS_GROUPS[through] = CompiledQuery(
            through,
            lambda connection_pk, user_pk: _groups_rows(
                through, user_col, group_col, connection_pk, {user_col: user_pk}
            ),
            Slot.of(ExternalGroup, "connection"),
            Slot.of(through, user_col),
        )
    return query


def groups_of_users(connection: Connection, user_ids: Sequence[Any]) -> dict[Any, list[Any]]:
    """:func:`load_groups` by user pk: ``{user pk: [group value, ...]}``, in one query."""
    model = get_user_model()
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if not user_ids or not hasattr(model, "groups"):
        return out
    through, user_col, group_col = groups_through(model)
    if len(user_ids) == 1:
        rows = _one_users_groups(through, user_col, group_col).run(connection.pk, user_ids[0])
    else:
        users = {f"{user_col}__in": list(user_ids)}
        rows = _groups_rows(through, user_col, group_col, connection.pk, users)
    for user_id, scim_id, display in rows:
        out[user_id].append({"value": str(scim_id), "display": display, "type": "direct"})
    return out


def render_user(
    request: Request | Any,
    identity: ExternalIdentity,
    groups: list[dict[str, Any]] | None = None,
    document: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full SCIM representation of one user (before attribute projection).

    *document* is the user as a client reads them when the caller has it already (the one a
    write of the core returns); otherwise the adapter renders it from the link row and the user.
    """
    if document is None:
        adapter = get_adapter()
        document = adapter.user_to_document(identity.user, identity.document, identity.connection)
    doc = {key: value for key, value in document.items() if key != "password"}
    location = user_location(request, identity)
    root = base_url(request)
    schemas = [USER_RESOURCE.schema.id]
    schemas += [e.id for e in USER_RESOURCE.extensions if doc.get(e.id)]
    resource: dict[str, Any] = {"schemas": schemas, "id": str(identity.scim_id)}
    if identity.external_id:
        resource["externalId"] = identity.external_id
    resource.update(doc)
    resource.pop("groups", None)
    if groups:
        resource["groups"] = [{**g, "$ref": f"{root}Groups/{g['value']}"} for g in groups]
    resource["meta"] = {
        "resourceType": "User",
        "created": identity.created_at.isoformat(),
        "lastModified": identity.updated_at.isoformat(),
        "location": location,
        "version": identity.etag,
    }
    return resource


class Projection:
    """``attributes`` / ``excludedAttributes`` of a request, applied to each resource."""

    def __init__(self, params: Mapping[str, Any], resource: ResourceType = USER_RESOURCE) -> None:
        self.resource = resource
        self.attributes = parse_attribute_list(params.get("attributes"), resource)
        self.excluded = parse_attribute_list(params.get("excludedAttributes"), resource)
        # A configured extension may have attributes returned "never" or only on "request":
        # then even a request without parameters is projected.
        # So may the core schema on "request" (a Group's members.display); its "never"
        # attributes (password) are never stored, so need no projection.
        self.hides = any(
            a.returned in ("never", "request")
            for ext in resource.extensions
            for attr in ext.attributes
            for a in (attr, *attr.sub_attributes)
        ) or any(
            a.returned == "request"
            for attr in resource.schema.attributes
            for a in (attr, *attr.sub_attributes)
        )

    def __call__(self, resource: dict[str, Any]) -> dict[str, Any]:
        if not self.attributes and not self.excluded and not self.hides:
            return resource
        return project(resource, self.resource, self.attributes or None, self.excluded or None)


@dataclass(frozen=True)
class AttrRef:
    """One parsed name, in the schema's spelling.

    ``urn`` is the extension's schema id, or None for the core schema and the common
    attributes (``id``, ``externalId``, ``meta``). ``attr`` None means the whole extension.
    """

    urn: str | None
    attr: str | None
    sub: str | None = None


AttrSpec = str | Sequence[str | AttrRef] | None
_DROP = object()


def parse_attribute_list(text: str | Sequence[str] | None, resource: ResourceType) -> list[AttrRef]:
    """Parse a comma-separated ``attributes`` value (or a list of them, as in ``.search``)."""
    if text is None:
        return []
    if isinstance(text, str):
        chunks = [text]
    elif isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
        chunks = list(text)
    else:
        raise InvalidValue("Attribute lists must be comma-separated strings.")
    if sum(len(c) for c in chunks) > MAX_LENGTH:
        raise InvalidValue(f"Attribute lists are limited to {MAX_LENGTH} characters.")
    refs: list[AttrRef] = []
    for chunk in chunks:
        for raw in chunk.split(","):
            name = raw.strip()
            ref = _parse_name(name, resource) if name else None
            if ref is not None and ref not in refs:
                refs.append(ref)
    return refs


def _parse_name(name: str, resource: ResourceType) -> AttrRef | None:
    urn, rest = split_urn(name, resource)
    if urn is not None and urn.lower() == resource.schema.id.lower():
        urn = None
        if not rest:
            return None  # The core schema URN alone names nothing in particular.
    elif urn is not None and not rest:
        return AttrRef(urn, None)
    elif urn is None and rest[:4].lower() == "urn:":
        return None  # A schema this resource does not use.
    parts = rest.split(".")
    if len(parts) > 2 or not all(_NAME_RE.match(p) for p in parts):
        raise InvalidValue(f"'{name[:200]}' is not a valid attribute name.")
    attr = resource.find(urn, parts[0])
    if attr is None:
        return None
    if len(parts) == 1:
        return AttrRef(urn, attr.name)
    sub = attr.sub(parts[1]) if attr.type == "complex" else None
    return AttrRef(urn, attr.name, sub.name) if sub is not None else None


def _refs(spec: AttrSpec, resource: ResourceType) -> list[AttrRef]:
    if spec is None or isinstance(spec, str):
        return parse_attribute_list(spec, resource)
    out: list[AttrRef] = []
    for item in spec:
        found = [item] if isinstance(item, AttrRef) else parse_attribute_list(item, resource)
        out += [r for r in found if r not in out]
    return out


def project(
    resource_doc: dict[str, Any],
    resource: ResourceType,
    attributes: AttrSpec = None,
    excluded: AttrSpec = None,
) -> dict[str, Any]:
    """A copy of *resource_doc* (a full rendered resource) with only the attributes to return."""
    requested = _refs(attributes, resource)
    dropped = [] if requested else _refs(excluded, resource)
    out: dict[str, Any] = {}
    for key, value in resource_doc.items():
        if key == "schemas":
            out[key] = list(value) if isinstance(value, list) else value
            continue
        ext = resource.extension(key)
        if ext is None:
            result = _project(None, resource.find(None, key), value, requested, dropped)
            if result is not _DROP:
                out[key] = result
            continue
        if not isinstance(value, dict):
            continue
        whole = AttrRef(ext.id, None)
        ext_requested = requested
        if whole in requested:
            named = [AttrRef(ext.id, a.name) for a in ext.attributes if a.returned != "request"]
            ext_requested = requested + named
        projected: dict[str, Any] = {}
        for sub_key, sub_value in value.items():
            attr = ext.attribute(sub_key)
            if whole in dropped and (attr is None or attr.returned != "always"):
                continue
            result = _project(ext.id, attr, sub_value, ext_requested, dropped)
            if result is not _DROP:
                projected[sub_key] = result
        if projected:
            out[key] = projected
    schemas = out.get("schemas")
    if isinstance(schemas, list):
        out["schemas"] = [
            s
            for s in schemas
            if not isinstance(s, str)
            or (ext := resource.extension(s)) is None
            or any(k.lower() == ext.id.lower() for k in out)
        ]
    return out


def _project(
    urn: str | None,
    attr: Attribute | None,
    value: Any,
    requested: list[AttrRef],
    dropped: list[AttrRef],
) -> Any:
    """The value to return for one attribute, or ``_DROP``."""
    if attr is None:
        return _DROP if requested else value  # Not in the schema: default-like.
    if attr.returned == "never":
        return _DROP
    if attr.returned == "always":
        return _subs(attr, value, None, set())
    if requested:
        if AttrRef(urn, attr.name) in requested:
            return _subs(attr, value, None, set())
        named = {r.sub for r in requested if (r.urn, r.attr) == (urn, attr.name) and r.sub}
        return _subs(attr, value, named, set()) if named else _DROP
    if attr.returned == "request" or AttrRef(urn, attr.name) in dropped:
        return _DROP
    excluded = {r.sub for r in dropped if (r.urn, r.attr) == (urn, attr.name) and r.sub}
    return _subs(attr, value, None, excluded)


def _subs(attr: Attribute, value: Any, only: set[str] | None, excluded: set[str]) -> Any:
    """Apply sub-attribute rules to a complex value (or to each element of a list)."""
    if attr.type != "complex" or not attr.sub_attributes:
        return value
    if isinstance(value, list):
        items = [_element(attr, v, only, excluded) for v in value]
        kept = [i for i in items if i is not _DROP]
        return kept if kept else _DROP
    return _element(attr, value, only, excluded)


def _element(attr: Attribute, value: Any, only: set[str] | None, excluded: set[str]) -> Any:
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attr.sub(key)
        if sub is None:
            keep = only is None
        elif sub.returned == "never":
            keep = False
        elif sub.returned == "always":
            keep = True
        elif only is not None:
            keep = sub.name in only
        else:
            keep = sub.returned != "request" and sub.name not in excluded
        if keep:
            out[key] = sub_value
    return out if out else _DROP
