"""Read and write one mapped attribute path in a SCIM document.

The paths are the keys of ``USER_ATTRIBUTE_MAP``: ``userName``, ``name.givenName``,
``emails[primary eq true].value``, ``emails[type eq "work"].value`` and extension paths such as
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber``. This is a
deliberately small subset of the SCIM path grammar: a mapping names one slot, not a query.
For a ``[primary eq true]`` selector, reading falls back to the first value when none is marked
primary, because many clients (Okta among them) send a single e-mail without ``primary``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..exceptions import InvalidPath
from .definitions import USER_RESOURCE, ResourceType, split_urn
from .registry import user_extensions

_PATH_RE = re.compile(
    r"^(?P<attr>[A-Za-z$][\w$-]*)"
    r"(?:\[(?P<fattr>[A-Za-z][\w-]*)\s+eq\s+(?P<fval>\"[^\"]*\"|true|false)\])?"
    r"(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$"
)


@dataclass(frozen=True)
class MappedPath:
    """One parsed mapping key: ``[urn:]attr[[filter_attr eq filter_value]][.sub]``."""

    urn: str | None
    attr: str
    filter_attr: str | None = None
    filter_value: Any = None
    sub: str | None = None

    @property
    def has_selector(self) -> bool:
        """Whether the path picks one element of a multi-valued attribute (``[... eq ...]``)."""
        return self.filter_attr is not None


def parse_mapped_path(path: str, resource: ResourceType = USER_RESOURCE) -> MappedPath:
    """Parse one mapping key against *resource* (its extensions as configured now)."""
    return _parse_mapped_path(path, resource, user_extensions.generation)


@lru_cache(maxsize=256)
def _parse_mapped_path(path: str, resource: ResourceType, generation: int) -> MappedPath:
    # *generation* is part of the key only: a change of USER_SCHEMA_EXTENSIONS starts afresh.
    urn, rest = split_urn(path, resource)
    match = _PATH_RE.match(rest)
    if not match:
        raise InvalidPath(f"Unsupported attribute path in mapping: {path!r}")
    attr_def = resource.find(urn, match["attr"])
    if attr_def is None:
        raise InvalidPath(f"Unknown SCIM attribute in mapping: {path!r}")
    fval: Any = None
    if match["fattr"]:
        raw = match["fval"]
        fval = raw == "true" if raw in ("true", "false") else raw[1:-1]
    sub = match["sub"]
    if sub and attr_def.sub(sub):
        sub = attr_def.sub(sub).name  # type: ignore[union-attr]
    return MappedPath(
        urn=urn if urn != resource.schema.id else None,
        attr=attr_def.name,
        filter_attr=match["fattr"],
        filter_value=fval,
        sub=sub,
    )


def _container(doc: dict[str, Any], path: MappedPath, create: bool) -> dict[str, Any] | None:
    if path.urn is None:
        return doc
    if path.urn not in doc and create:
        doc[path.urn] = {}
    value = doc.get(path.urn)
    return value if isinstance(value, dict) else None


def _matches(item: Any, path: MappedPath) -> bool:
    if not isinstance(item, dict) or path.filter_attr is None:
        return False
    value = item.get(path.filter_attr)
    if isinstance(path.filter_value, str) and isinstance(value, str):
        return value.lower() == path.filter_value.lower()
    return bool(value == path.filter_value)


def get_path(doc: dict[str, Any], path: MappedPath) -> Any:
    container = _container(doc, path, create=False)
    if container is None:
        return None
    value = container.get(path.attr)
    if path.has_selector:
        if not isinstance(value, list) or not value:
            return None
        chosen = next((i for i in value if _matches(i, path)), None)
        if chosen is None and path.filter_attr == "primary":
            chosen = value[0]
        return chosen.get(path.sub or "value") if isinstance(chosen, dict) else None
    if path.sub:
        return value.get(path.sub) if isinstance(value, dict) else None
    return value


def set_path(doc: dict[str, Any], path: MappedPath, value: Any) -> None:
    """Write *value* into the slot; an empty value removes it."""
    empty = value in (None, "")
    container = _container(doc, path, create=not empty)
    if container is None:
        return
    if path.has_selector:
        items = container.get(path.attr)
        if not isinstance(items, list):
            items = []
        chosen = next((i for i in items if _matches(i, path)), None)
        if chosen is None and path.filter_attr == "primary" and items:
            chosen = items[0] if isinstance(items[0], dict) else None
        if empty:
            return  # Never drop a client's value because the model field is blank.
        if chosen is None:
            chosen = {path.filter_attr: path.filter_value} if path.filter_attr else {}
            if path.filter_attr == "primary":
                chosen["type"] = "work"
            items.append(chosen)
        chosen[path.sub or "value"] = value
        container[path.attr] = items
        return
    if path.sub:
        parent = container.get(path.attr)
        if empty:
            if isinstance(parent, dict):
                parent.pop(path.sub, None)
                if not parent:
                    container.pop(path.attr, None)
            return
        if not isinstance(parent, dict):
            parent = {}
            container[path.attr] = parent
        parent[path.sub] = value
        return
    if empty:
        container.pop(path.attr, None)
    else:
        container[path.attr] = value
    if path.urn and not container:
        doc.pop(path.urn, None)
