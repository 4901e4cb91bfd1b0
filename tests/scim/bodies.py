"""Shared PATCH body builder (kept apart so other test modules can import it)."""

from __future__ import annotations

from typing import Any

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}
