"""A ListResponse page built within a byte budget (RFC 7644 §3.4.2.4), by index or by cursor.

``count`` bounds a page in resources, but a resource can be large: a page of 40 users
stuffed to the value limits was ~35 MiB. So a page is also bounded in bytes
(``SCIM_MAX_RESPONSE_BYTES``): each resource is serialized as it is rendered, and the page
ends before the one that would cross the budget. RFC 7644 §3.4.2.4 allows fewer results than
asked for: ``itemsPerPage`` says how many the page holds, ``totalResults`` stays the total,
and a client continues from ``startIndex + itemsPerPage`` (or from the ``nextCursor``, which
names the last resource served). A page holds at least one resource while any remain, however
large, so paging always progresses.

The page's keys are read first, from the list-order index alone (``(connection, created_at, id,
user)`` of live link rows; ``(connection, created_at, id)`` of groups): the rows a deep
``startIndex`` skips are index entries, never table rows or joins. A cursor page reads its keys
after the cursor's position (:mod:`.cursors`), one more than ``count`` to tell whether another
page follows. Rows are then read by key (their primary key, sorted apart: :func:`sort_matches`),
in chunks, and rendering stops at the budget, so the rows past it are neither rendered nor
(beyond the current chunk) loaded. Queries stay fixed
whatever the page size: the page's keys, the groups of those users, then the rows themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import F, OrderBy, QuerySet
from django.db.models.functions import Coalesce

from ..conf import provisioning_settings
from ..models import Connection, ExternalIdentity
from .cursors import MAX_CURSOR_LENGTH, Position, Window
from .messages import LIST_RESPONSE_SCHEMA
from .renderers import RenderedJSON, to_json
from .rendering import groups_of_users

#: Rows fetched at a time: what is loaded past the budget is at most this many rows.
CHUNK_SIZE = 20
#: A filtered list matching at most this many rows sorts its matches rather than walk the
#: list-order index (see :func:`sort_matches`).
SORT_MATCHES_LIMIT = 10_000

Render = Callable[[ExternalIdentity, list[dict[str, Any]] | None], dict[str, Any]]


def envelope(total: int, items: int, window: Window, next_cursor: str | None = None) -> bytes:
    """The ListResponse without its ``Resources``: ``startIndex`` for index pagination,
    ``nextCursor`` (while another page follows) for cursor pagination."""
    body: dict[str, Any] = {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": items,
    }
    if not window.cursor:
        body["startIndex"] = window.start
    elif next_cursor is not None:
        body["nextCursor"] = next_cursor
    return to_json(body)


def budget(total: int, window: Window) -> int:
    """Bytes left for the resources of a page once its envelope is written."""
    longest = "x" * MAX_CURSOR_LENGTH if window.cursor else None
    head = envelope(total, window.count, window, longest) + b',"Resources":[]'
    return int(provisioning_settings.SCIM_MAX_RESPONSE_BYTES) - len(head)


def sort_matches(ordered: QuerySet[Any], matches: int) -> QuerySet[Any]:
    """*ordered*, filtered, sorted so that the database finds its *matches* through the
    filter's index and sorts them, when they are at most :data:`SORT_MATCHES_LIMIT`.

    With ``ORDER BY created_at, id LIMIT n``, a planner (SQLite's, and PostgreSQL's when it
    overestimates the matches) may walk the list-order index and test the filter on each
    row until *n* match: one ``externalId eq`` walked all 20,000 of a connection's rows.
    Ordering by ``COALESCE(col, col)``, which no index serves, leaves it the filter's index
    and a sort of the matches: a cost in proportion to what the filter matches (known: the
    count ran first). Above the limit the matches are dense and walking the order index
    stops early, so the order is kept as it is."""
    if matches > SORT_MATCHES_LIMIT:
        return ordered

    def unindexed(item: Any) -> Any:
        # The list views order by order_by_for's OrderBy expressions; a column becomes
        # COALESCE(col, col), an expression (a sortBy's fold or subquery) is left as it is.
        if isinstance(item, OrderBy) and isinstance(item.expression, F):
            wrapped = item.copy()
            wrapped.expression = Coalesce(item.expression, item.expression)
            return wrapped
        return item

    return ordered.order_by(*(unindexed(item) for item in ordered.query.order_by))


def page_keys(ordered: QuerySet[Any], window: Window, *fields: str) -> tuple[list[Any], bool]:
    """The *fields* of the page's rows in *ordered* (its default order), and whether rows
    follow them (cursor pagination only). Only columns of the list-order index are read."""
    if not window.count:
        return [], False
    if window.cursor:
        rows = ordered.filter(window.after.after()) if window.after else ordered
        keys = list(rows.values_list(*fields, "created_at")[: window.count + 1])
        return keys[: window.count], len(keys) > window.count
    offset = window.start - 1
    return list(ordered.values_list(*fields)[offset : offset + window.count]), False


def finish(
    parts: list[bytes], total: int, window: Window, more: bool, last: Position | None
) -> RenderedJSON:
    """The ListResponse of *parts*; *more*: resources follow the last one served (*last*)."""
    next_cursor = None
    if window.cursor and more:
        next_cursor = window.next_cursor(last or window.after)
    head = envelope(total, len(parts), window, next_cursor)[:-1]
    return RenderedJSON(head + b',"Resources":[' + b",".join(parts) + b"]}")


def list_page(
    ordered: QuerySet[ExternalIdentity],
    connection: Connection,
    *,
    total: int,
    window: Window,
    render: Render,
    by_key: Callable[[Any], list[ExternalIdentity]] | None = None,
) -> RenderedJSON:
    """The ListResponse of the page *window* of *ordered*, cut short at
    ``SCIM_MAX_RESPONSE_BYTES``; *render* turns a row and its groups into a resource.

    *by_key*, when given, reads a page of one row by its key alone, with a query compiled
    once (:mod:`django_provisioning.compiled`). (An IdP's lookup by userName or externalId
    that matches fewer than two rows does not come here: :mod:`.lookup`, :func:`matches_page`.)"""
    keys: list[Any] = []
    more = False
    rows: Iterable[ExternalIdentity] = ()
    # start > total: an empty page without a query (an OFFSET past 2**63 is a database error).
    if window.cursor or total >= window.start:
        keys, more = page_keys(ordered, window, "pk", "user_id")
        # By key, sorted apart: in list order SQLite walks the connection's list-order index
        # testing "id IN (...)" on every row (2 ms at 100,000 users, growing with them).
        if by_key is not None and len(keys) == 1:
            rows = by_key(keys[0][0])
        elif keys:
            matched = sort_matches(ordered, len(keys)).filter(pk__in=[key[0] for key in keys])
            rows = matched.iterator(chunk_size=CHUNK_SIZE)
    return render_page(
        rows,
        [key[1] for key in keys],
        connection,
        total=total,
        window=window,
        render=render,
        more=more,
    )


def matches_page(
    matches: list[ExternalIdentity], connection: Connection, *, window: Window, render: Render
) -> RenderedJSON:
    """The ListResponse page *window* (index pagination) of *matches*, every row the
    filter matched (:mod:`.lookup`: fewer than two), in list order."""
    rows = window_of(matches, window)
    return render_page(
        rows,
        [row.user_id for row in rows],
        connection,
        total=len(matches),
        window=window,
        render=render,
    )


def window_of(matches: list[Any], window: Window) -> list[Any]:
    """The rows of the page *window* (index pagination) of *matches*, a lookup's every
    match, already in list order."""
    assert not window.cursor
    offset = window.start - 1
    return matches[offset : offset + window.count]


def render_page(
    rows: Iterable[ExternalIdentity],
    user_ids: list[Any],
    connection: Connection,
    *,
    total: int,
    window: Window,
    render: Render,
    more: bool = False,
) -> RenderedJSON:
    """The ListResponse of *rows* (whose users are *user_ids*), rendered with their groups
    and cut short at ``SCIM_MAX_RESPONSE_BYTES``; *more*: rows follow them."""
    groups = groups_of_users(connection, user_ids) if user_ids else {}
    parts: list[bytes] = []
    last: Position | None = None
    room = budget(total, window)
    used = 0
    for identity in rows:
        identity.connection = connection  # already loaded: no query per row
        part = to_json(render(identity, groups.get(identity.user_id)))
        if parts and used + len(part) + 1 > room:
            more = True
            break  # the next page starts here
        parts.append(part)
        used += len(part) + 1
        last = Position(identity.created_at, identity.pk)
    return finish(parts, total, window, more, last)
