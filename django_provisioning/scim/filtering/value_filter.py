"""Value filters of PATCH paths (``emails[type eq "work"]``, RFC 7644 §3.5.2), element by element.

Inside the brackets an attribute name is a sub-attribute of the multi-valued attribute, and its
``caseExact`` and ``type`` decide how values compare (RFC 7644 §3.4.2.2, RFC 7643 §2.1); the
evaluator of :mod:`.evaluate` decides, so PATCH selects exactly the elements a filter would.
Every refusal is ``invalidPath``: the filter is part of a path here.
"""

from __future__ import annotations

from typing import Any

from ...exceptions import SchemaError
from ...schema.definitions import Attribute
from ...schema.document import coerce_value
from ..errors import InvalidFilter, InvalidPath
from .evaluate import matches_element
from .nodes import COMPARE_OPS, And, AttrPath, Compare, Not, Or, Present


def _sub_of(attr: Attribute, path: AttrPath) -> Attribute:
    """The sub-attribute a filter inside ``attr[...]`` names; invalidPath when there is none."""
    name = path.attr
    if path.urn is not None:
        raise InvalidPath(f"A filter on '{attr.name}' names its sub-attributes only.")
    if path.sub is not None:
        if path.attr.lower() != attr.name.lower():
            raise InvalidPath(f"'{path.attr}.{path.sub}' is not a sub-attribute of '{attr.name}'.")
        name = path.sub
    sub = attr.sub(name)
    if sub is None:
        raise InvalidPath(f"'{name}' is not a sub-attribute of '{attr.name}'.")
    return sub


def check_filter(attr: Attribute, expr: Any) -> None:
    """Validate a value filter of *attr* before use: known sub-attributes, no nesting."""
    if attr.type != "complex":
        raise InvalidPath(f"'{attr.name}' has no sub-attributes to filter on.")
    if isinstance(expr, (And, Or)):
        check_filter(attr, expr.left)
        check_filter(attr, expr.right)
    elif isinstance(expr, Not):
        check_filter(attr, expr.expr)
    elif isinstance(expr, Present):
        _sub_of(attr, expr.path)
    elif isinstance(expr, Compare):
        _sub_of(attr, expr.path)
        if expr.op not in COMPARE_OPS:
            raise InvalidPath(f"Unknown operator '{expr.op}'.")
    else:
        raise InvalidPath(f"Unsupported filter inside '{attr.name}[...]'.")


def element_matches(attr: Attribute, expr: Any, element: Any) -> bool:
    """Whether one element of multi-valued *attr* satisfies the value filter *expr*.

    The filter module's evaluator decides, so PATCH selects exactly the elements a filter
    would; errors it raises are about the path here, hence invalidPath.
    """
    if not isinstance(element, dict):
        return False
    try:
        return matches_element(expr, element, attr)
    except InvalidFilter as exc:
        raise InvalidPath(exc.detail) from None


def seed_element(attr: Attribute, expr: Any) -> dict[str, Any] | None:
    """The element a filter of ``eq`` clauses joined by ``and`` describes; None otherwise."""
    clauses: list[Compare] = []
    pending = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, And):
            pending += [node.left, node.right]
        elif isinstance(node, Compare) and node.op == "eq":
            clauses.append(node)
        else:
            return None
    out: dict[str, Any] = {}
    for clause in clauses:
        sub = _sub_of(attr, clause.path)
        if sub.mutability == "readOnly":
            continue
        try:
            value = coerce_value(sub, clause.value, f"{attr.name}.{sub.name}")
        except SchemaError:
            return None
        if value is None or out.get(sub.name, value) != value:
            return None
        out[sub.name] = value
    return out
