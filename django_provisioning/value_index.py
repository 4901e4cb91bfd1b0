"""The value index: ``ExternalIdentityValue`` rows that answer SCIM filters on a user's values.

Filters on ``emails``, ``title`` or ``name.givenName`` are answered from these rows (one
``EXISTS`` on the ``(attribute, value_normalized)`` index), never from the host's user table or
a JSON key of the stored document. Every write of the core brings a user's rows in line with
the document a client reads (:func:`index_values`, model values overlaid, so mapped attributes
are in it: only the rows that differ from the stored ones are deleted and inserted);
:func:`reindex` rebuilds them for users written before this index existed (the
``reindex_values`` command).

What is indexed, one row per value:

- each element of ``emails``, ``phoneNumbers``, ``ims``, ``photos``, ``entitlements`` and
  ``roles``: ``attribute`` is the attribute's name, with its ``type``, ``primary`` and
  ``display``;
- each singular string (or reference) attribute and sub-attribute of the core User schema but
  ``userName``, ``externalId`` and ``id`` (columns of the link row) and of every extension
  schema of ``USER_RESOURCE`` (read when the rows are written, so a configured extension is
  indexed too): ``attribute`` is the canonical path (``name.givenName``,
  ``urn:...:enterprise:2.0:User:department``, ``urn:...:User:manager.value``). Write-only and
  never-returned attributes (``password``) are not indexed; nor are empty values.

Long values: ``value`` and ``value_normalized`` hold the first :data:`VALUE_LENGTH` characters
(fewer when they are long in UTF-8, so an index entry stays under PostgreSQL's b-tree limit);
a value that was cut keeps the SHA-256 of its whole compared form in ``value_digest``, so that
``eq`` compares whole values: :func:`cut` and :func:`digest` are what the filter compiler
compares an operand with.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.db import router
from django.db.models import QuerySet

from .adapter import get_adapter
from .compiled import CompiledQuery, Slot
from .db import write_transaction
from .locks import users_for_update
from .models import Connection, ExternalIdentity, ExternalIdentityValue
from .schema import definitions
from .schema.definitions import Attribute

INDEXED_MULTI_VALUED = ("emails", "phoneNumbers", "ims", "photos", "entitlements", "roles")
#: Characters of a value the index holds (the ``value`` and ``value_normalized`` columns).
VALUE_LENGTH = 1024
#: UTF-8 bytes of a value the index holds: PostgreSQL refuses b-tree entries over ~2700 bytes,
#: and ``attribute`` (up to 255) shares the entry with ``value_normalized``.
_VALUE_BYTES = 2000
_TEXT_TYPES = ("string", "reference")
#: Core attributes that are columns of the link row, not value rows.
_LINK_ROW_ATTRIBUTES = frozenset({"id", "externalid", "username"})
_ROWS_PER_STATEMENT = 1000  # PostgreSQL allows 65535 parameters per statement, 8 per row here.


def cut(text: str) -> str:
    """*text* as the index stores it: its first characters, within both limits."""
    text = text[:VALUE_LENGTH]
    encoded = text.encode("utf-8")
    if len(encoded) > _VALUE_BYTES:
        text = encoded[:_VALUE_BYTES].decode("utf-8", "ignore")
    return text


def digest(text: str) -> str:
    """What ``value_digest`` holds for *text*: its SHA-256 when :func:`cut` shortens it, else ""."""
    if cut(text) == text:
        return ""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _filterable(attr: Attribute) -> bool:
    return attr.mutability != "writeOnly" and attr.returned != "never"


def indexed_path(urn: str | None, attr: Attribute, sub: Attribute | None = None) -> str | None:
    """The ``attribute`` of the rows of a singular string (sub-)attribute, None if not indexed.

    *urn* is None for the core User schema, else the canonical id of an extension schema.
    """
    if attr.multi_valued or not _filterable(attr):
        return None
    if urn is None and attr.name.lower() in _LINK_ROW_ATTRIBUTES:
        return None
    if sub is not None:
        if attr.type != "complex" or sub.type not in _TEXT_TYPES or not _filterable(sub):
            return None
        name = f"{attr.name}.{sub.name}"
    elif attr.type in _TEXT_TYPES:
        name = attr.name
    else:
        return None
    return f"{urn}:{name}" if urn else name


def _singular_paths() -> Iterator[tuple[str, str | None, Attribute, Attribute | None]]:
    """(row attribute, urn, attribute, sub-attribute) of every indexed singular value.

    Reads ``USER_RESOURCE`` now, not at import: its extension schemas may be configured.
    """
    resource = definitions.USER_RESOURCE
    schemas = [(None, resource.schema), *((ext.id, ext) for ext in resource.extensions)]
    for urn, schema in schemas:
        for attr in schema.attributes:
            for sub in attr.sub_attributes if attr.type == "complex" else (None,):
                path = indexed_path(urn, attr, sub)
                if path is not None:
                    yield path, urn, attr, sub


def _key(container: Any, name: str) -> Any:
    """``container[name]``, the name compared without case (RFC 7643 §2.1); None if absent."""
    if not isinstance(container, dict):
        return None
    if name in container:
        return container[name]
    lowered = name.lower()
    for key, value in container.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _text(value: Any) -> str:
    """A singular value as the index compares it; "" for what is no string value."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return str(value)


def _row(identity: ExternalIdentity, attribute: str, value: str, *, case_exact: bool) -> Any:
    folded = value.casefold()
    return ExternalIdentityValue(
        identity=identity,
        attribute=attribute,
        value=cut(value),
        value_normalized=cut(folded),
        value_digest=digest(value if case_exact else folded),
    )


def value_rows(identity: ExternalIdentity, document: dict[str, Any]) -> list[Any]:
    """The unsaved index rows of *identity* for *document* (the user as a client reads them)."""
    rows = []
    for attribute in INDEXED_MULTI_VALUED:
        for item in document.get(attribute) or []:
            if not isinstance(item, dict):
                continue
            row = _row(identity, attribute, str(item.get("value") or ""), case_exact=False)
            row.type = str(item.get("type") or "")[:64]
            row.primary = item.get("primary") is True
            row.display = str(item.get("display") or "")[:255]
            rows.append(row)
    for path, urn, attr, sub in _singular_paths():
        container = document if urn is None else _key(document, urn)
        value = _key(container, attr.name)
        if sub is not None:
            value = _key(value, sub.name)
        text = _text(value)
        if text:
            rows.append(_row(identity, path, text, case_exact=(sub or attr).case_exact))
    return rows


#: The columns that make an index row what it is (all but its key and its link row).
ROW_COLUMNS = (
    "attribute",
    "type",
    "value",
    "value_normalized",
    "primary",
    "display",
    "value_digest",
)

#: A link row's index rows as stored: every write but a create reads them (compiled once).
STORED_VALUES = CompiledQuery(
    ExternalIdentityValue,
    lambda identity_id: (
        ExternalIdentityValue.objects.filter(identity_id=identity_id)
        .order_by()
        .values_list("pk", *ROW_COLUMNS)
    ),
    Slot.of(ExternalIdentityValue, "identity"),
    # What the write deletes and inserts is decided from these rows: read them where they are
    # written, in the transaction that holds the link row's lock (not from a read replica).
    for_write=True,
)
#: Keys of stale rows per DELETE: within SQLite's 999 variables (Django's assumption too,
#: ``max_query_params``), which a user's values can pass (1000 per attribute).
_KEYS_PER_DELETE = 500


def index_values(identity: ExternalIdentity, document: dict[str, Any], *, fresh: bool) -> None:
    """Write *identity*'s index rows for *document*: one INSERT when it is *fresh* (created in
    this write); else the stored rows are read and only those that changed are deleted and
    inserted (none, for a write that changes no indexed value: one SELECT in all).

    The rows are compared with what is stored, not with the previous document, so rows
    left stale (by a write past the app) are put right by the next write of their user.
    Called under the link row's lock (the core's lock order), so no other write of this
    user's rows is in progress."""
    rows = value_rows(identity, document)
    if not fresh:
        stored = {row[0]: tuple(row[1:]) for row in STORED_VALUES.run(identity.pk)}
        wanted = [(row, tuple(getattr(row, c) for c in ROW_COLUMNS)) for row in rows]
        # Per set of column values: how many more rows are stored than wanted (below 0: fewer).
        surplus = Counter(stored.values())
        surplus.subtract(key for _row, key in wanted)
        stale = []
        for pk, key in stored.items():
            if surplus[key] > 0:  # more stored than wanted: this one goes
                surplus[key] -= 1
                stale.append(pk)
        missing = []
        for row, key in wanted:
            if surplus[key] < 0:  # more wanted than stored: this one is new
                surplus[key] += 1
                missing.append(row)
        alias = router.db_for_write(ExternalIdentityValue)
        for start in range(0, len(stale), _KEYS_PER_DELETE):
            keys = stale[start : start + _KEYS_PER_DELETE]
            ExternalIdentityValue.objects.filter(pk__in=keys)._raw_delete(alias)  # type: ignore[attr-defined]
        rows = missing
    if rows:
        ExternalIdentityValue.objects.bulk_create(rows, batch_size=_ROWS_PER_STATEMENT)


@write_transaction
def _reindex_batch(keys: list[int]) -> int:
    """Rebuild the rows of the link rows *keys*, locked first (the core's lock order)."""
    adapter = get_adapter()
    identities = list(
        ExternalIdentity.objects.select_for_update(of=("self",))
        .select_related("connection")
        .filter(pk__in=keys)
        .order_by("pk")
    )
    # Then their users, locked and read again (the lock order): a user joined to the link
    # rows' query is the one read before that query waited for a write's locks, without the
    # write's values (PostgreSQL's READ COMMITTED re-reads only the locked rows).
    users = users_for_update(get_user_model()).filter(pk__in={i.user_id for i in identities})
    locked = {u.pk: u for u in users.order_by("pk")}
    identities = [i for i in identities if i.user_id in locked]
    ExternalIdentityValue.objects.filter(identity__in=identities).delete()
    rows = []
    for identity in identities:
        identity.user = locked[identity.user_id]
        document = adapter.user_to_document(identity.user, identity.document, identity.connection)
        rows.extend(value_rows(identity, document))
    ExternalIdentityValue.objects.bulk_create(rows, batch_size=_ROWS_PER_STATEMENT)
    return len(identities)


def reindex(connection: Connection | None = None, *, batch_size: int = 500) -> int:
    """Rebuild the value rows of every link row (of *connection*); the number rebuilt.

    One transaction per batch of *batch_size* link rows, in key order, each batch locking its
    link rows before it reads anything else, so it waits for (and then sees) a write of the
    core in progress. Safe to run again, and while the doors are serving.
    """
    queryset: QuerySet[ExternalIdentity] = ExternalIdentity.objects.order_by("pk")
    if connection is not None:
        queryset = queryset.filter(connection=connection)
    total = 0
    last = 0
    while True:
        keys = list(queryset.filter(pk__gt=last).values_list("pk", flat=True)[:batch_size])
        if not keys:
            return total
        total += _reindex_batch(keys)
        last = keys[-1]
