"""Canonical documents: validate a resource against the schema and fold it into our spelling.

RFC 7643 §2.1 makes attribute names case-insensitive; here every key is rewritten to the
schema's spelling, extension attributes sit under their schema URN, ``readOnly`` attributes are
dropped (RFC 7644 §3.3, §3.5.1), and values are checked against their type. Booleans sent as the
strings ``"True"``/``"False"`` (Microsoft Entra without ``aadOptscim062020``) become booleans.

Unknown attributes are dropped rather than refused: identity providers send vendor extensions a
service provider has not declared, and refusing them would stop provisioning altogether.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..exceptions import ImmutableAttribute, InvalidSyntax, InvalidValue
from .definitions import Attribute, ResourceType

_BOOL_STRINGS = {"true": True, "false": False}

#: Most values one multi-valued attribute (``emails``, ``roles``...) may hold. Without a bound,
#: a 1 MiB PATCH of 10 000 e-mails and 1 000 operations on them costs a minute of CPU. A
#: group's ``members`` are exempt: large by nature, and changed with set operations.
MAX_VALUES = 1000
UNBOUNDED = frozenset({"members"})


def coerce_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
        return _BOOL_STRINGS[value.strip().lower()]
    raise InvalidValue(f"Attribute '{name}' must be a boolean.")


def coerce_value(attr: Attribute, value: Any, name: str) -> Any:
    """Check one singular value against *attr*'s type; return it in canonical form."""
    if value is None:
        return None
    kind = attr.type
    if kind == "boolean":
        return coerce_bool(value, name)
    if kind == "complex":
        if not isinstance(value, dict):
            raise InvalidValue(f"Attribute '{name}' must be a complex value (a JSON object).")
        return canonical_complex(attr, value, name)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue(f"Attribute '{name}' must be an integer.")
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(f"Attribute '{name}' must be a number.")
        return value
    if kind == "dateTime":
        if not isinstance(value, str) or parse_datetime(value) is None:
            raise InvalidValue(f"Attribute '{name}' must be an xsd:dateTime string.")
        return value
    # string, reference, binary
    if isinstance(value, (dict, list, bool)):
        raise InvalidValue(f"Attribute '{name}' must be a string.")
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise InvalidValue(f"Attribute '{name}' must be a string.")
    return check_text(value, name)


def check_text(value: str, name: str) -> str:
    """Refuse what no database column can store: NUL characters and lone surrogates.

    JSON can carry both (``"\\u0000"``, ``"\\ud800"``); PostgreSQL refuses NUL in text and
    jsonb, and a lone surrogate cannot be encoded as UTF-8 by any driver or renderer.
    """
    if "\x00" in value:
        raise InvalidValue(f"Attribute '{name}' contains a NUL character.")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue(f"Attribute '{name}' is not valid Unicode text.") from None
    return value


def canonical_complex(attr: Attribute, value: dict[str, Any], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attr.sub(key)
        if sub is None or sub.mutability == "readOnly":
            continue
        coerced = coerce_value(sub, sub_value, f"{name}.{sub.name}")
        if coerced is not None:
            out[sub.name] = coerced
    return out


def canonical_attribute(attr: Attribute, value: Any, name: str) -> Any:
    if value is None:
        return None
    if attr.multi_valued:
        if isinstance(value, dict):
            value = [value]  # Lenient: a single object where a list belongs.
        if not isinstance(value, list):
            raise InvalidValue(f"Attribute '{name}' must be a list.")
        check_value_count(value, name)
        items = [coerce_value(attr, item, name) for item in value]
        items = [i for i in items if i not in (None, {}, "")]
        if attr.type == "complex":
            if sum(1 for i in items if i.get("primary") is True) > 1:
                raise InvalidValue(f"At most one value of '{name}' may be primary.")
        return items
    if isinstance(value, list):
        raise InvalidValue(f"Attribute '{name}' is single-valued.")
    return coerce_value(attr, value, name)


def check_value_count(values: list[Any], name: str) -> None:
    if len(values) > MAX_VALUES and name not in UNBOUNDED:
        raise InvalidValue(f"Attribute '{name}' holds at most {MAX_VALUES} values.")


def canonicalize(data: Any, resource: ResourceType) -> tuple[dict[str, Any], str | None]:
    """Validate a POST/PUT body; return (canonical document, password or None).

    The document has no ``id``, ``meta``, ``schemas`` or read-only attributes; extension
    attributes are nested under their URN key.
    """
    if not isinstance(data, dict):
        raise InvalidSyntax("The request body must be a JSON object.")
    schemas = data.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas)
    ):
        raise InvalidSyntax("'schemas' must be a list of schema URNs.")
    if schemas is not None and resource.schema.id.lower() not in {s.lower() for s in schemas}:
        raise InvalidSyntax(f"'schemas' must include {resource.schema.id}.")

    doc: dict[str, Any] = {}
    password: str | None = None
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        ext = resource.extension(key)
        if ext is not None:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise InvalidValue(f"Extension '{ext.id}' must be a JSON object.")
            ext_doc: dict[str, Any] = {}
            for sub_key, sub_value in value.items():
                attr = ext.attribute(sub_key)
                if attr is None or attr.mutability == "readOnly":
                    continue
                coerced = canonical_attribute(attr, sub_value, f"{ext.id}:{attr.name}")
                if coerced not in (None, [], {}):
                    ext_doc[attr.name] = coerced
            if ext_doc:
                doc[ext.id] = ext_doc
            continue
        if ":" in key:
            urn, _sep, name = key.rpartition(":")
            ext = resource.extension(urn)
            if ext is not None and ext.attribute(name) is not None:
                # Entra sends "urn:...:enterprise:2.0:User:department" flattened.
                attr = ext.attribute(name)
                assert attr is not None
                coerced = canonical_attribute(attr, value, key)
                if coerced not in (None, [], {}):
                    doc.setdefault(ext.id, {})[attr.name] = coerced
            continue
        attr = resource.find(None, key)
        if attr is None or attr.mutability == "readOnly" or attr.name in ("schemas",):
            continue
        if attr.name == "password":
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidValue("Attribute 'password' must be a string.")
                password = check_text(value, "password")
            continue
        coerced = canonical_attribute(attr, value, attr.name)
        if coerced not in (None, [], {}):
            doc[attr.name] = coerced
    for attr in resource.schema.attributes:
        if attr.required and _blank(doc.get(attr.name)):
            raise InvalidValue(f"Attribute '{attr.name}' is required.")
    for ext in resource.extensions:
        # An extension is optional (schemaExtensions "required": false); when a resource has
        # it, its required attributes must have values.
        values: dict[str, Any] = doc.get(ext.id) or {}
        for attr in ext.attributes if values else ():
            if attr.required and attr.mutability != "readOnly" and _blank(values.get(attr.name)):
                raise InvalidValue(f"Attribute '{ext.id}:{attr.name}' is required.")
    return doc, password


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_immutable(resource: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse a change to an ``immutable`` attribute that already has a value (RFC 7643 §2.2)."""
    for attr in resource.schema.attributes:
        if attr.mutability == "immutable" and old.get(attr.name) not in (None, new.get(attr.name)):
            raise ImmutableAttribute(f"Attribute '{attr.name}' is immutable.")
    for ext in resource.extensions:
        old_ext, new_ext = old.get(ext.id), new.get(ext.id)
        if not isinstance(old_ext, dict):
            continue
        new_ext = new_ext if isinstance(new_ext, dict) else {}
        for attr in ext.attributes:
            if attr.mutability == "immutable" and old_ext.get(attr.name) not in (
                None,
                new_ext.get(attr.name),
            ):
                raise ImmutableAttribute(f"Attribute '{ext.id}:{attr.name}' is immutable.")


_DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def parse_datetime(value: str) -> datetime | None:
    """An xsd:dateTime as an aware datetime (UTC when no offset is given); None if invalid."""
    from datetime import timezone as dt_timezone

    if not isinstance(value, str) or not _DT_RE.match(value.strip()):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    try:
        parsed.astimezone(dt_timezone.utc)
    except OverflowError:
        return None  # 9999-12-31T23:00:00-14:00 is past the last instant a datetime holds.
    return parsed


def primary_value(items: Any) -> Any:
    """The value of the primary element of a multi-valued attribute, else the first one."""
    if not isinstance(items, list) or not items:
        return None
    for item in items:
        if isinstance(item, dict) and item.get("primary") is True:
            return item.get("value")
    first = items[0]
    return first.get("value") if isinstance(first, dict) else None


def copy_document(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists, scalars): what ``copy.deepcopy`` does
    for these types, without its memo and dispatch, on the path of every rendering."""
    if isinstance(value, dict):
        return {k: copy_document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_document(v) for v in value]
    return value
