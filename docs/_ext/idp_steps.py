"""Sphinx directive ``.. idp-saml-steps:: okta``: an IdP's SAML setup, from the portal's data.

The setup portal and ``docs/idp/<vendor>.rst`` render the same module,
``django_provisioning/portal/vendors.py`` (pure data, loaded here by its path so that building
the docs imports neither Django nor the package).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

VENDORS_PY = Path(__file__).resolve().parents[2] / "django_provisioning" / "portal" / "vendors.py"

EXAMPLE = {
    "acs": "https://app.example.com/sso/<slug>/acs/",
    "entity_id": "https://app.example.com/sso/<slug>/metadata/",
    "slo": "https://app.example.com/sso/<slug>/slo/",
    "metadata": "https://app.example.com/sso/<slug>/metadata/",
    "scim_base": "https://app.example.com/scim/v2/",
}
NAME_ID = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def load_vendors() -> Any:
    spec = importlib.util.spec_from_file_location("_dp_portal_vendors", VENDORS_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def literal(value: str) -> str:
    return f"``{value}``"


def inline(text: str) -> str:
    """*text* with the example URLs as literals (they contain characters RST would read)."""
    for value in EXAMPLE.values():
        text = text.replace(value, literal(value))
    return text.replace("*", r"\*")


def saml_rst(key: str) -> list[str]:
    data = load_vendors()
    vendor = data.VENDORS[key]
    steps = [inline(data.fill(step, EXAMPLE)) for step in vendor.saml_steps]
    lines = [
        f"The setup portal (:doc:`../portal`) shows the customer's IT admin these steps, in "
        f"{vendor.name}'s words, with the connection's own values (``<slug>`` is the "
        "connection's slug, ``app.example.com`` the product's host).",
        "",
    ]
    lines += [f"#. {step}" for step in steps]
    lines += [
        "",
        ".. list-table:: Values to enter",
        "   :header-rows: 1",
        "",
        f"   * - {vendor.name} setting",
        "     - Value",
    ]
    for label, value in (
        (vendor.acs_label, EXAMPLE["acs"]),
        (vendor.entity_id_label, EXAMPLE["entity_id"]),
        (vendor.slo_label, EXAMPLE["slo"]),
        (vendor.name_id_label, NAME_ID),
    ):
        lines += [f"   * - {label}", f"     - {literal(value)}"]
    lines += [
        "",
        ".. list-table:: Attributes to send",
        "   :header-rows: 1",
        "",
        "   * - What",
        f"     - {vendor.name} setting",
        "     - Name",
    ]
    for field, (label, name) in vendor.attributes.items():
        lines += [
            f"   * - {data.FIELD_LABELS[field]}",
            f"     - {label}",
            f"     - {literal(name)}",
        ]
    lines += ["", f"Metadata for the portal: {inline(vendor.metadata_hint)}.", ""]
    return lines


class IdpSamlSteps(Directive):
    required_arguments = 1
    has_content = False

    def run(self) -> list[Any]:
        source = self.state_machine.get_source_and_line(self.lineno)[0]
        rst = StringList(saml_rst(self.arguments[0]), source=source)
        # Rebuild the page when the data changes.
        self.state.document.settings.env.note_dependency(str(VENDORS_PY))
        container = nodes.container()
        self.state.nested_parse(rst, self.content_offset, container)
        return list(container.children)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("idp-saml-steps", IdpSamlSteps)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
