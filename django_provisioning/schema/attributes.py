"""Attribute and schema definitions as data (RFC 7643 §7): the types the schemas are made of.

An :class:`Attribute` carries the characteristics RFC 7643 §7 lists (``type``, ``mutability``,
``returned``, ...); :meth:`Attribute.as_dict` and :meth:`Schema.as_dict` spell them as
``/Schemas`` serves them. The schemas themselves are in :mod:`.definitions` (built in) and
:mod:`.extensions` (configured by the product).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


@dataclass(frozen=True)
class Attribute:
    """One attribute definition (RFC 7643 §7)."""

    name: str
    type: str = "string"  # string boolean decimal integer dateTime reference binary complex
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"  # readOnly readWrite immutable writeOnly
    returned: str = "default"  # always never default request
    uniqueness: str = "none"  # none server global
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()

    def sub(self, name: str) -> Attribute | None:
        lowered = name.lower()
        for attr in self.sub_attributes:
            if attr.name.lower() == lowered:
                return attr
        return None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            out["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            out["subAttributes"] = [a.as_dict() for a in self.sub_attributes]
        return out


@dataclass(frozen=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)

    def attribute(self, name: str) -> Attribute | None:
        lowered = name.lower()
        for attr in self.attributes:
            if attr.name.lower() == lowered:
                return attr
        return None

    def as_dict(self, location: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.as_dict() for a in self.attributes],
            "meta": {"resourceType": "Schema"},
        }
        if location:
            out["meta"]["location"] = location
        return out
