"""In-memory evaluation of SCIM filters (RFC 7644 §3.4.2.2) against canonical documents.

Used by PATCH to select elements (``emails[type eq "work"]``) and as the reference semantics
the database compiler (:mod:`.compiler`) follows. The rules, shared with the compiler:

- Case (RFC 7643 §2.2, §7): strings compare case-insensitively unless the schema says
  ``caseExact`` (``id``, ``externalId``, ``meta.resourceType``). dateTime values compare as
  instants; booleans as booleans, accepting the strings ``"True"``/``"False"`` that Microsoft
  Entra sends.
- Multi-valued (§3.4.2.2): the attribute matches when any element matches. Without a
  sub-attribute, a multi-valued complex attribute compares its ``value`` sub-attribute.
- ``ne`` is the complement of ``eq``: true when no value of the attribute equals the operand,
  so it is true when the attribute is absent (the table in §3.4.2.2 defines ``ne`` as "not
  identical", and an absent value is not identical to any operand). ``not (...)`` is the
  complement of its filter, absent attributes included. ``gt``/``ge``/``lt``/``le``/``co``/
  ``sw``/``ew`` are false when the attribute is absent. Element-wise inequality is still
  expressible: ``emails[not (type eq "work")]``.
- ``eq null`` means "not present" and ``ne null`` means "present"; other operators refuse null.
- ``pr``: present and neither null, ``""``, ``[]`` nor ``{}`` (RFC 7644 §3.4.2.2 "pr").
  An empty string is no value for the comparison operators either (model fields store an
  absent attribute as ``""``), so ``title eq ""`` is always false.
- Operators that make no sense for a type raise :class:`InvalidFilter`, whatever the data:
  ``gt``/``ge``/``lt``/``le``/``co``/``sw``/``ew`` on booleans and on ``id`` (opaque, RFC 7643
  §3.1), ``co``/``sw``/``ew`` on dateTime and numbers, an operand of the wrong type, comparing
  a complex attribute that has no ``value`` sub-attribute, write-only attributes.
- Attributes the schema does not know are compared by the JSON type of the stored value
  (strings case-insensitively), so a value path evaluated without its schema still works.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from ...adapter import get_adapter
from ...exceptions import SchemaError
from ...schema.definitions import ID, Attribute, ResourceType
from ...schema.document import coerce_bool, parse_datetime
from ..errors import InvalidFilter
from .nodes import AttrPath, Compare, Filter, Not, Present, ValuePath, flatten, path_name

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_SUBSTRING: dict[str, Callable[[str, str], bool]] = {
    "co": lambda actual, wanted: wanted in actual,
    "sw": lambda actual, wanted: actual.startswith(wanted),
    "ew": lambda actual, wanted: actual.endswith(wanted),
}
_STRING_TYPES = ("string", "reference", "binary")


def prepare_operand(op: str, value: Any, attr: Attribute | None, name: str) -> Any:
    """Check that *op* applies to *attr*'s type and return the operand in comparable form.

    Strings come back unfolded (the caller folds per ``caseExact``), dateTime as an aware
    datetime, booleans as bool. *value* is not None (``eq``/``ne null`` are handled earlier).
    """
    if value is None:
        raise InvalidFilter(f"'{name}': only 'eq' and 'ne' accept null.")
    kind = attr.type if attr is not None else None
    if attr is ID and op != "eq":
        # Ids are opaque (RFC 7643 §3.1): substring and ordering comparisons mean nothing.
        raise InvalidFilter(f"'{name}' can only be compared with eq, ne or pr.")
    if kind == "complex":
        raise InvalidFilter(
            f"'{name}' is complex: compare one of its sub-attributes (e.g. '{name}.value')."
        )
    if kind == "boolean":
        if op != "eq":
            raise InvalidFilter(f"'{name}' is a boolean: use eq, ne or pr, not '{op}'.")
        try:
            return coerce_bool(value, name)
        except SchemaError:
            raise InvalidFilter(f"'{name}' is a boolean: compare it with true or false.") from None
    if kind == "dateTime":
        if op in _SUBSTRING:
            raise InvalidFilter(f"'{name}' is a dateTime: '{op}' applies to strings only.")
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise InvalidFilter(f"'{name}' is a dateTime: {value!r} is not an xsd:dateTime.")
        return parsed
    if kind in ("integer", "decimal"):
        if op in _SUBSTRING:
            raise InvalidFilter(f"'{name}' is a number: '{op}' applies to strings only.")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidFilter(f"'{name}' is a number: compare it with a number.")
        return value
    if kind in _STRING_TYPES:
        if isinstance(value, bool):
            raise InvalidFilter(f"'{name}' is a string: compare it with a string, not {value}.")
        # Numbers are stored as their text (document.coerce_value), so compare them so.
        return value if isinstance(value, str) else str(value)
    return value  # Unknown attribute: compared by the stored value's type.


def compare_scalar(actual: Any, op: str, wanted: Any, attr: Attribute | None) -> bool:
    """One stored scalar against a prepared operand (``op`` is not ``ne`` and not ``pr``)."""
    kind = attr.type if attr is not None else _infer(actual, wanted)
    if actual is None:
        return False
    if kind == "boolean":
        try:
            return coerce_bool(actual, "") is coerce_bool(wanted, "") and op == "eq"
        except SchemaError:
            return False
    if kind == "dateTime":
        instant = parse_datetime(actual) if isinstance(actual, str) else None
        return instant is not None and _ORDER[op](instant, wanted)
    if kind in ("integer", "decimal"):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        return op in _ORDER and _ORDER[op](actual, wanted)
    if isinstance(actual, (dict, list)):
        return False
    text, other = str(actual), str(wanted)
    if attr is not None and attr.name == "userName" and not attr.case_exact:
        # The one userName rule (NFKC, case folding) the database column is stored in: the
        # evaluator must select what the compiled filter selects.
        normalize = get_adapter().normalize_user_name
        text, other = normalize(text), normalize(other)
    elif attr is None or not attr.case_exact:
        text, other = text.casefold(), other.casefold()
    if op in _SUBSTRING:
        return _SUBSTRING[op](text, other)
    return _ORDER[op](text, other)


def _infer(actual: Any, wanted: Any) -> str:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return "boolean"
    if isinstance(actual, (int, float)) and isinstance(wanted, (int, float)):
        return "decimal"
    return "string"


def is_present(value: Any) -> bool:
    if isinstance(value, list):
        return any(is_present(v) for v in value)
    if isinstance(value, dict):
        return any(is_present(v) for v in value.values())
    return value is not None and value != ""


def _get(container: Any, key: str) -> Any:
    """``container[key]`` with the case-insensitive key match of RFC 7643 §2.1."""
    if not isinstance(container, dict):
        return None
    if key in container:
        return container[key]
    lowered = key.lower()
    for candidate, value in container.items():
        if isinstance(candidate, str) and candidate.lower() == lowered:
            return value
    return None


class _Scope:
    """Resolves attribute paths: in a resource, or (``element``) inside one complex value."""

    def __init__(
        self, data: dict[str, Any], resource_type: ResourceType | None, parent: Attribute | None
    ) -> None:
        self.data = data
        self.resource_type = resource_type
        self.parent = parent

    def lookup(self, path: AttrPath) -> tuple[Any, Attribute | None, str]:
        """(stored value, definition of the addressed attribute or None, display name)."""
        name = path_name(path)
        container: Any = self.data
        attr: Attribute | None = None
        if self.resource_type is None:  # element scope: the name is a sub-attribute
            attr = self.parent.sub(path.attr) if self.parent else None
        else:
            rt = self.resource_type
            if path.urn is None or path.urn.lower() == rt.schema.id.lower():
                attr = rt.find(None, path.attr)
            else:
                ext = rt.extension(path.urn)
                container = _get(self.data, ext.id if ext else path.urn)
                attr = ext.attribute(path.attr) if ext else None
        if attr is not None and (attr.mutability == "writeOnly" or attr.returned == "never"):
            raise InvalidFilter(f"'{name}' cannot be filtered.")
        value = _get(container, attr.name if attr else path.attr)
        if path.sub is None:
            return value, attr, name
        sub_attr: Attribute | None = None
        if attr is not None:
            if attr.type != "complex":
                raise InvalidFilter(f"'{attr.name}' has no sub-attributes ('{name}').")
            sub_attr = attr.sub(path.sub)
            if sub_attr is None:
                raise InvalidFilter(f"Unknown sub-attribute '{name}'.")
        key = sub_attr.name if sub_attr else path.sub
        if isinstance(value, list):
            return [_get(item, key) for item in value], sub_attr, name
        return _get(value, key), sub_attr, name

    def candidates(self, path: AttrPath) -> tuple[list[Any], Attribute | None, str]:
        """The scalars a comparison on *path* looks at, and the definition they follow."""
        value, attr, name = self.lookup(path)
        items = value if isinstance(value, list) else [value]
        if attr is not None and attr.type == "complex":
            value_attr = attr.sub("value")
            if value_attr is None:
                raise InvalidFilter(
                    f"'{name}' is complex: compare one of its sub-attributes "
                    f"(e.g. '{name}.{attr.sub_attributes[0].name}')."
                )
            return [_get(item, "value") for item in items], value_attr, name
        if attr is None:
            # Schema-less: a complex element compares its "value", as RFC 7644 §3.4.2.2 does.
            items = [_get(i, "value") if isinstance(i, dict) else i for i in items]
        # "" is no value (as for "pr"), so it is never compared: absent and empty agree.
        return [i for i in items if i is not None and i != ""], attr, name


def _evaluate(expr: Filter, scope: _Scope) -> bool:
    if isinstance(expr, Not):
        return not _evaluate(expr.expr, scope)
    if isinstance(expr, Present):
        value, _attr, _name = scope.lookup(expr.path)
        return is_present(value)
    if isinstance(expr, Compare):
        return _compare(expr, scope)
    if isinstance(expr, ValuePath):
        return _value_path(expr, scope)
    # And / Or: iterate over the flattened chain, so long chains do not recurse.
    operands, is_and = flatten(expr)
    # Evaluate every operand (no short-circuit), so an ill-typed clause is refused whatever
    # the data: the same filter is invalid in memory and in the database.
    results = [_evaluate(e, scope) for e in operands]
    return all(results) if is_and else any(results)


def _compare(expr: Compare, scope: _Scope) -> bool:
    if expr.value is None and expr.op in ("eq", "ne"):
        value, _attr, _name = scope.lookup(expr.path)
        return is_present(value) == (expr.op == "ne")
    if expr.op == "ne":
        return not _compare(Compare(expr.path, "eq", expr.value), scope)
    values, attr, name = scope.candidates(expr.path)
    wanted = prepare_operand(expr.op, expr.value, attr, name)
    return any(compare_scalar(v, expr.op, wanted, attr) for v in values)


def _value_path(expr: ValuePath, scope: _Scope) -> bool:
    if scope.resource_type is None:
        raise InvalidFilter("Value filters cannot be nested.")
    value, attr, name = scope.lookup(expr.path)
    if attr is not None and attr.type != "complex":
        raise InvalidFilter(f"'{name}' is not complex: '[...]' needs a complex attribute.")
    elements = [e for e in (value if isinstance(value, list) else [value]) if isinstance(e, dict)]
    # With no element to look at, still check the inner filter against an empty one.
    results = [_evaluate(expr.filter, _Scope(e, None, attr)) for e in elements or [{}]]
    return bool(elements) and any(results)


def matches(expr: Filter, resource: dict[str, Any], resource_type: ResourceType) -> bool:
    """Does the SCIM document *resource* (canonical keys, extensions under their URN) match?"""
    return _evaluate(expr, _Scope(resource, resource_type, None))


def matches_element(expr: Filter, element: dict[str, Any], attribute: Attribute | None) -> bool:
    """Does one complex value (an ``emails`` element) match a value path's inner filter?

    *attribute* is the multi-valued attribute's definition, for the sub-attributes' case rules;
    None compares by the stored values' types.
    """
    return _evaluate(expr, _Scope(element, None, attribute))
