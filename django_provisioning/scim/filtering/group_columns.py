"""Where each attribute of a SCIM Group is stored, for the filter compiler.

A Group is an ``ExternalGroup`` row: ``id`` -> ``scim_id``, ``externalId`` -> ``external_id``
(caseExact), ``displayName`` -> ``display_name`` (case-insensitive, RFC 7643 §4.2),
``meta.created`` / ``meta.lastModified`` -> ``created_at`` / ``updated_at``,
``meta.resourceType`` the constant ``"Group"``. ``members`` -> ``EXISTS`` over the group's
grant rows (``GroupGrant``): ``members.value`` (a user's SCIM id) compares the grant's user
with the users of that id in the connection, so ``members[value eq "u"]`` (Entra's membership
probe, with ``id eq "g" and``) and ``members.value eq "u"`` are index lookups; ``members.type``
is the constant ``"User"``. Not filterable: ``members.display``, ``members.$ref``,
``meta.location``, ``meta.version``. Not sortable: ``members``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db.models import OuterRef, Q

from ...models import ExternalIdentity, GroupGrant
from ...schema.definitions import GROUP_RESOURCE, Attribute
from ..errors import InvalidFilter, UnknownAttribute
from .columns import Column, ComplexValue, MultiValued, Resolver, Target
from .nodes import AttrPath, path_name


def _sub(attr: Attribute, name: str) -> Attribute:
    sub = attr.sub(name)
    assert sub is not None, name
    return sub


class GroupResolver(Resolver):
    """Resolves attribute paths of one connection's Groups (``ExternalGroup`` rows)."""

    def resolve(self, path: AttrPath) -> Target:
        name = path_name(path)
        if path.urn is not None and path.urn.lower() != GROUP_RESOURCE.schema.id.lower():
            raise UnknownAttribute(f"Unknown schema URN '{path.urn}' in '{name}'.")
        attr = GROUP_RESOURCE.find(None, path.attr)
        if attr is None:
            raise UnknownAttribute(f"Unknown attribute '{name}'.")
        sub: Attribute | None = None
        if path.sub is not None:
            sub = attr.sub(path.sub) if attr.type == "complex" else None
            if sub is None:
                raise InvalidFilter(f"Unknown sub-attribute '{name}'.")
        if attr.name == "id":
            return Column("id", attr, "uuid", "scim_id")
        if attr.name == "externalId":
            return Column(
                "externalId", attr, "text", "external_id", not_null=Q(external_id__isnull=False)
            )
        if attr.name == "displayName":
            return Column("displayName", attr, "text", "display_name")
        if attr.name == "meta":
            return self.meta(attr, sub)
        if not self.index:
            raise InvalidFilter(f"'{name}' cannot be sorted on.")
        members = self.members(attr)
        if sub is None:
            return members
        column = self.element_column(AttrPath(None, sub.name), members)
        assert isinstance(column, Column)
        return replace(members, sub=column)

    def meta(self, attr: Attribute, sub: Attribute | None) -> Target:
        columns = {
            "created": Column("meta.created", _sub(attr, "created"), "datetime", "created_at"),
            "lastModified": Column(
                "meta.lastModified", _sub(attr, "lastModified"), "datetime", "updated_at"
            ),
            "resourceType": Column(
                "meta.resourceType",
                _sub(attr, "resourceType"),
                "const",
                const=GROUP_RESOURCE.name,
            ),
        }
        if sub is None:
            return ComplexValue("meta", attr, columns)
        if sub.name not in columns:
            raise InvalidFilter(f"'meta.{sub.name}' cannot be filtered.")
        return columns[sub.name]

    def members(self, attr: Attribute) -> MultiValued:
        """The group's grant rows; a member's id is its link row's ``scim_id``."""
        connection = self.connection

        def match(scim_id: Any) -> Q:
            users = ExternalIdentity.objects.filter(
                connection=connection, scim_id=scim_id, deleted_at=None
            ).values("user_id")
            return Q(user_id__in=users)

        columns = {
            "value": Column("members.value", _sub(attr, "value"), "uuid", match=match),
            "type": Column("members.type", _sub(attr, "type"), "const", const="User"),
        }
        return MultiValued(
            "members",
            attr,
            lambda: GroupGrant.objects.filter(external_group=OuterRef("pk")),
            columns,
        )
