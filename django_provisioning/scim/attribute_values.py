"""Value-level helpers of :mod:`.patch`: coercion, de-duplication, ``primary``, immutability.

Private to the PATCH implementation. Multi-valued attributes are handled as sets keyed by
:func:`element_key`, so adding or removing N values is linear. The value filters of PATCH paths
(``emails[type eq "work"]``) are :mod:`.filtering.value_filter`.
"""

from __future__ import annotations

import json
from typing import Any

from ..schema.definitions import Attribute
from ..schema.document import coerce_value
from .errors import InvalidValue, Mutability

_EMPTY: tuple[Any, ...] = (None, "", [], {})


def coerce_one(attr: Attribute, value: Any, label: str) -> Any:
    """One value of *attr* in canonical form.

    Lenient for complex values that have a ``value`` sub-attribute: a bare scalar is read as
    ``{"value": scalar}`` and a one-element list as its element (Entra's manager).
    """
    if attr.type == "complex":
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            if attr.sub("value") is not None:
                value = {"value": value}
    if isinstance(value, list):
        raise InvalidValue(f"Attribute '{label}' takes a single value, not a list.")
    return coerce_value(attr, value, label)


def element_key(value: Any) -> str:
    """A hashable stand-in for a canonical value, so that deduplication stays linear."""
    return json.dumps(value, sort_keys=True, default=str)


def coerce_many(attr: Attribute, value: Any, label: str) -> list[Any]:
    """The values of a multi-valued *attr*, deduplicated; a lone value counts as a list of one."""
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    seen: set[str] = set()
    for item in items:
        coerced = coerce_value(attr, item, label)
        key = element_key(coerced)
        if coerced not in _EMPTY and key not in seen:
            seen.add(key)
            out.append(coerced)
    return out


def append_new(existing: list[Any], items: list[Any]) -> tuple[list[Any], list[int]]:
    """*existing* plus those *items* not already in it; and the index of every item."""
    index: dict[str, int] = {}
    for i, element in enumerate(existing):
        index.setdefault(element_key(element), i)
    out = list(existing)
    touched = []
    for item in items:
        key = element_key(item)
        if key not in index:
            index[key] = len(out)
            out.append(item)
        touched.append(index[key])
    return out, touched


def enforce_primary(items: list[Any], touched: list[int], label: str) -> list[Any]:
    """At most one ``primary: true`` (RFC 7643 §2.4): a touched primary element wins."""
    chosen = sorted({i for i in touched if isinstance(items[i], dict) and items[i].get("primary")})
    chosen = [i for i in chosen if items[i].get("primary") is True]
    if len(chosen) > 1:
        raise InvalidValue(f"At most one value of '{label}' may be primary.")
    if not chosen:
        return items
    return [
        {**item, "primary": False}
        if i != chosen[0] and isinstance(item, dict) and item.get("primary") is True
        else item
        for i, item in enumerate(items)
    ]


def check_immutable_element(
    attr: Attribute, old: dict[str, Any], new: dict[str, Any], label: str
) -> None:
    """Refuse changing an ``immutable`` sub-attribute that already has a value."""
    for sub in attr.sub_attributes:
        if sub.mutability != "immutable":
            continue
        before = old.get(sub.name)
        if before not in _EMPTY and new.get(sub.name) != before:
            raise Mutability(f"Sub-attribute '{label}.{sub.name}' is immutable.")


def _norm(sub: Attribute, value: Any) -> tuple[str, Any]:
    """*value* as a set member that compares the way :func:`compare` does for ``eq``."""
    if isinstance(value, str):
        return ("str", value if sub.case_exact else value.casefold())
    if isinstance(value, (bool, int, float)) or value is None:
        return (type(value).__name__, value)
    return ("json", element_key(value))


def remove_listed(attr: Attribute, items: Any, value: Any, label: str) -> list[Any]:
    """*items* without the elements listed in *value* (Entra: ``[{"value": "id"}]``).

    Complex elements are matched on ``value`` when given, else on every sub-attribute given.
    Matching on ``value`` is a set lookup, so removing N members is linear.
    """
    remaining = list(items) if isinstance(items, list) else []
    value_sub = attr.sub("value")
    by_value: set[tuple[str, Any]] = set()
    general: list[dict[Attribute, Any]] = []
    for wanted in value if isinstance(value, list) else [value]:
        if attr.type != "complex":
            remaining = [i for i in remaining if i != wanted]
            continue
        if isinstance(wanted, (str, int)) and not isinstance(wanted, bool):
            wanted = {"value": wanted}
        if not isinstance(wanted, dict):
            raise InvalidValue(f"Values to remove from '{label}' must be JSON objects.")
        keys: dict[Attribute, Any] = {}
        for key, sub_value in wanted.items():
            sub = attr.sub(key) if isinstance(key, str) else None
            if sub is not None and sub_value is not None:
                keys[sub] = sub_value
        if value_sub is not None and value_sub in keys:
            by_value.add(_norm(value_sub, keys[value_sub]))
        elif keys:
            general.append(keys)

    def listed(item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        if value_sub is not None and by_value and _norm(value_sub, item.get("value")) in by_value:
            return True
        return any(
            all(_norm(sub, item.get(sub.name)) == _norm(sub, v) for sub, v in keys.items())
            for keys in general
        )

    return [item for item in remaining if not listed(item)]
