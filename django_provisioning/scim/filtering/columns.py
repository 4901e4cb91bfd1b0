"""Where each attribute of a SCIM User is stored, for the filter compiler (:mod:`.compiler`).

:class:`Resolver` turns an :class:`~.nodes.AttrPath` into a :class:`Column` (one comparable
column or expression), a :class:`MultiValued` attribute (rows of ``ExternalIdentityValue`` or
``ExternalGroup`` correlated with the outer identity) or a :class:`ComplexValue` (a singular
complex attribute named whole), and refuses with :class:`InvalidFilter` whatever cannot be
filtered. The storage rules are listed in :mod:`.compiler`'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.lookups import IsNull

from ...adapter import get_adapter
from ...models import ExternalGroup, ExternalIdentityValue
from ...schema.definitions import USER_RESOURCE, Attribute
from ...value_index import INDEXED_MULTI_VALUED, indexed_path
from ..errors import InvalidFilter, UnknownAttribute
from .nodes import AttrPath, path_name

if TYPE_CHECKING:
    from ...models import Connection


@dataclass(frozen=True)
class Column:
    """One comparable thing: a model column (``lhs`` a lookup path) or an expression.

    ``kind``: ``text`` (case rule from ``attr.case_exact``), ``folded`` (column and operand
    folded by ``fold``), ``boolean``, ``datetime``, ``uuid``, ``other`` (a non-text model
    field, compared with ``field.to_python(operand)``) or ``const`` (the value ``const``).
    """

    name: str
    attr: Attribute
    kind: str
    lhs: Any = None
    not_null: Q | None = None  # None: the column is never NULL
    presence: Q | None = None  # what "pr" means, when not "not null and not empty"
    fold: Callable[[str], str] | None = None
    const: Any = None
    model_field: models.Field[Any, Any] | None = None
    #: A value index column: the lookup path of the digest that makes ``eq`` whole-value.
    digest: str | None = None
    #: A ``uuid`` column whose id is stored elsewhere (a group's ``members.value``): the
    #: condition on the row for one id.
    match: Callable[[Any], Q] | None = None


@dataclass(frozen=True)
class MultiValued:
    """Rows of the outer identity, and their columns: a multi-valued attribute's elements.

    A singular string attribute answered from the value index is one of these too, with its
    ``value`` column as ``sub``: at most one row, compared as ``emails.value`` is.
    """

    name: str
    attr: Attribute
    rows: Callable[[], models.QuerySet[Any]]
    columns: dict[str, Column]
    primary_first: tuple[str, ...] = ("pk",)
    sub: Column | None = None
    #: The same rows of every resource, not correlated, and the column naming the resource
    #: (``identity_id``): a filter is then ``pk IN (SELECT identity_id ...)``, one subquery the
    #: value indexes serve, not an ``EXISTS`` per resource (SQLite runs those row by row).
    every_row: Callable[[], models.QuerySet[Any]] | None = None
    owner: str = "identity_id"
    #: Rows of the value index: the ``attribute`` they hold (``emails``, ``name.givenName``).
    index_attribute: str | None = None

    def having(self, condition: Q) -> Q:
        """The resources with an element (a row) that meets *condition*."""
        if self.every_row is not None:
            return Q(pk__in=self.every_row().filter(condition).values(self.owner))
        return Q(Exists(self.rows().filter(condition)))


@dataclass(frozen=True)
class ComplexValue:
    """A singular complex attribute named without a sub-attribute (``name``, ``manager``)."""

    name: str
    attr: Attribute
    columns: Mapping[str, Column | MultiValued]


Target = Column | MultiValued | ComplexValue


class Resolver:
    """Resolves attribute paths of one connection's Users (the adapter's field mapping).

    With *index* (filters), singular string attributes resolve to their value index rows;
    without (``sortBy``), to where the value is stored: a user model field or a document key.
    """

    def __init__(self, connection: Connection, *, index: bool = True) -> None:
        self.connection = connection
        self.adapter = get_adapter()
        self.index = index

    def resolve(self, path: AttrPath) -> Target:
        """Where the attribute *path* (top level of a User) is stored; refuse the unknown."""
        name = path_name(path)
        urn = path.urn
        if urn is not None and urn.lower() == USER_RESOURCE.schema.id.lower():
            urn = None
        if urn is not None:
            ext = USER_RESOURCE.extension(urn)
            if ext is None:
                raise UnknownAttribute(f"Unknown schema URN '{urn}' in '{name}'.")
            urn = ext.id
        attr = USER_RESOURCE.find(urn, path.attr)
        if attr is None:
            raise UnknownAttribute(f"Unknown attribute '{name}'.")
        canonical = f"{urn}:{attr.name}" if urn else attr.name
        if attr.mutability == "writeOnly" or attr.returned == "never":
            raise InvalidFilter(f"'{canonical}' cannot be filtered.")
        sub: Attribute | None = None
        if path.sub is not None:
            if attr.type != "complex":
                raise InvalidFilter(f"'{canonical}' has no sub-attributes ('{name}').")
            sub = attr.sub(path.sub)
            if sub is None:
                raise InvalidFilter(f"Unknown sub-attribute '{name}'.")
        if urn is None and attr.name in ("id", "externalId", "userName", "meta"):
            return self.identity_column(attr, sub)
        if attr.multi_valued:
            multi = (
                self.groups(attr)
                if attr.name == "groups" and urn is None
                else self.values(canonical, attr)
            )
            if sub is None:
                return multi
            column = self.element_column(AttrPath(None, sub.name), multi)
            assert isinstance(column, Column)  # the columns of element rows
            return replace(multi, sub=column)
        if attr.type == "complex":
            if sub is None:
                columns = {
                    s.name: self.singular(f"{canonical}.{s.name}", urn, attr, s)
                    for s in attr.sub_attributes
                }
                return ComplexValue(canonical, attr, columns)
            return self.singular(f"{canonical}.{sub.name}", urn, attr, sub)
        return self.singular(canonical, urn, attr, None)

    def element_column(
        self, path: AttrPath, element: MultiValued | ComplexValue
    ) -> Column | MultiValued:
        """A sub-attribute named inside ``attr[...]``, relative to the element."""
        sub = element.attr.sub(path.attr)
        if path.urn is not None or path.sub is not None or sub is None:
            raise InvalidFilter(f"Unknown sub-attribute '{element.name}.{path_name(path)}'.")
        column = element.columns.get(sub.name)
        if column is None:
            raise InvalidFilter(f"'{element.name}.{sub.name}' cannot be filtered.")
        return column

    def identity_column(self, attr: Attribute, sub: Attribute | None) -> Target:
        """``id``, ``externalId``, ``userName`` and ``meta``: columns of the link row."""
        if attr.name == "id":
            return Column("id", attr, "uuid", "scim_id")
        if attr.name == "externalId":
            return Column(
                "externalId", attr, "text", "external_id", not_null=Q(external_id__isnull=False)
            )
        if attr.name == "userName":
            # The unique index (connection, user_name_normalized) serves eq.
            return Column(
                "userName",
                attr,
                "folded",
                "user_name_normalized",
                fold=self.adapter.normalize_user_name,
            )
        columns = {
            "created": Column("meta.created", _sub(attr, "created"), "datetime", "created_at"),
            "lastModified": Column(
                "meta.lastModified", _sub(attr, "lastModified"), "datetime", "updated_at"
            ),
            "resourceType": Column(
                "meta.resourceType", _sub(attr, "resourceType"), "const", const=USER_RESOURCE.name
            ),
        }
        if sub is None:
            return ComplexValue("meta", attr, columns)
        if sub.name not in columns:
            raise InvalidFilter(f"'meta.{sub.name}' cannot be filtered.")
        return columns[sub.name]

    def singular(
        self, name: str, urn: str | None, attr: Attribute, sub: Attribute | None
    ) -> Column | MultiValued:
        """A singular (sub-)attribute: its value index rows when it is a string held as text,
        else a mapped user model field, else a JSON document key."""
        definition = sub or attr
        indexed = indexed_path(urn, attr, sub) if self.index else None
        field_name = self.adapter.field_for_path(name, self.connection)
        if field_name is not None:
            try:
                model_field = get_user_model()._meta.get_field(field_name)
            except FieldDoesNotExist:
                model_field = None
            if not isinstance(model_field, models.Field):
                raise InvalidFilter(f"'{name}' cannot be filtered.")
            lhs = f"user__{field_name}"
            not_null = Q(**{f"{lhs}__isnull": False}) if model_field.null else None
            if isinstance(model_field, models.BooleanField):
                kind = "boolean"
            elif isinstance(model_field, models.DateTimeField):
                kind = "datetime"
            elif isinstance(model_field, (models.CharField, models.TextField)):
                kind = "text"
            else:
                kind = "other"
            if kind != "other" and _kind(definition) != kind:
                kind = "other"
            if kind == "text" and indexed is not None:
                return self.indexed(indexed, definition)
            # A string attribute mapped to a non-text field keeps that field's comparisons.
            return Column(name, definition, kind, lhs, not_null, model_field=model_field)
        keys = [k for k in (urn, attr.name, sub.name if sub else None) if k]
        text = _json_text(keys)
        if definition.type == "boolean":
            # KeyTransform keeps the JSON type, so its exact lookup compares JSON booleans.
            base: Any = "document"
            for key in keys:
                base = KeyTransform(key, base)
            return Column(name, definition, "boolean", base, Q(IsNull(text, False)))
        if _kind(definition) != "text":
            raise InvalidFilter(f"'{name}' cannot be filtered.")
        if indexed is not None:
            return self.indexed(indexed, definition)
        return Column(name, definition, "text", text, Q(IsNull(text, False)))

    def indexed(self, name: str, attr: Attribute) -> MultiValued:
        """A singular string attribute's value index rows (attribute *name*: at most one).

        Compared as ``emails.value`` is: ``value_normalized`` with a casefolded operand (the
        ``(attribute, value_normalized)`` index serves ``eq``), or ``value`` if caseExact.
        """
        if attr.case_exact:
            column = Column(name, attr, "text", "value", digest="value_digest")
        else:
            column = Column(
                name, attr, "folded", "value_normalized", fold=str.casefold, digest="value_digest"
            )
        return MultiValued(
            name,
            attr,
            lambda: ExternalIdentityValue.objects.filter(identity=OuterRef("pk"), attribute=name),
            {"value": column},
            sub=column,
            every_row=lambda: ExternalIdentityValue.objects.filter(attribute=name),
            index_attribute=name,
        )

    def values(self, name: str, attr: Attribute) -> MultiValued:
        """``emails`` & co.: rows of ``ExternalIdentityValue`` (one per element). Those of the
        core schema only: an extension's attribute of the same name (*name* then its URN and
        name) is not indexed, and its rows are not the core attribute's."""
        if attr.name not in INDEXED_MULTI_VALUED or name != attr.name:
            raise InvalidFilter(f"'{name}' cannot be filtered.")
        columns = {
            "value": Column(
                f"{name}.value",
                _sub(attr, "value"),
                "folded",
                "value_normalized",
                fold=str.casefold,
                digest="value_digest",
            ),
            "type": Column(f"{name}.type", _sub(attr, "type"), "text", "type"),
            "display": Column(f"{name}.display", _sub(attr, "display"), "text", "display"),
            # The index stores an absent "primary" as false, so "primary pr" can only mean
            # true, and "primary eq false" also matches elements that have no "primary".
            "primary": Column(
                f"{name}.primary",
                _sub(attr, "primary"),
                "boolean",
                "primary",
                presence=Q(primary=True),
            ),
        }
        return MultiValued(
            name,
            attr,
            lambda: ExternalIdentityValue.objects.filter(
                identity=OuterRef("pk"), attribute=attr.name
            ),
            columns,
            primary_first=("-primary", "pk"),
            every_row=lambda: ExternalIdentityValue.objects.filter(attribute=attr.name),
            index_attribute=attr.name,
        )

    def groups(self, attr: Attribute) -> MultiValued:
        """The user's groups that this connection manages (``ExternalGroup`` links)."""
        try:
            groups_field = get_user_model()._meta.get_field("groups")
        except FieldDoesNotExist:
            groups_field = None
        if not isinstance(groups_field, models.ManyToManyField):
            raise InvalidFilter("'groups' cannot be filtered: users have no groups.")
        member = f"group__{groups_field.related_query_name()}"
        connection = self.connection
        columns = {
            "value": Column("groups.value", _sub(attr, "value"), "uuid", "scim_id"),
            "display": Column("groups.display", _sub(attr, "display"), "text", "display_name"),
            "type": Column("groups.type", _sub(attr, "type"), "const", const="direct"),
        }
        return MultiValued(
            "groups",
            attr,
            lambda: ExternalGroup.objects.filter(
                connection=connection, **{member: OuterRef("user")}
            ),
            columns,
        )


def _sub(attr: Attribute, name: str) -> Attribute:
    sub = attr.sub(name)
    assert sub is not None, name
    return sub


def _kind(attr: Attribute) -> str:
    return {"boolean": "boolean", "dateTime": "datetime"}.get(
        attr.type, "text" if attr.type in ("string", "reference", "binary") else "other"
    )


def _json_text(keys: list[str]) -> KeyTextTransform:
    """``document -> k1 -> ... ->> kn`` built from expressions: URN keys contain ':' and '.'."""
    base: Any = "document"
    for key in keys[:-1]:
        base = KeyTransform(key, base)
    return KeyTextTransform(keys[-1], base)
