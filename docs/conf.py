"""Sphinx configuration. Builds offline: no intersphinx, no extension that fetches anything."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_init = (ROOT / "django_provisioning" / "__init__.py").read_text(encoding="utf-8")
release = re.search(r'^__version__ = "([^"]+)"', _init, re.MULTILINE).group(1)  # type: ignore[union-attr]
version = ".".join(release.split(".")[:2])

project = "django-provisioning"
author = "django-provisioning contributors"
copyright = "django-provisioning contributors"

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
# idp_steps: ".. idp-saml-steps:: okta" renders docs/idp pages from the portal's vendor data.
extensions: list[str] = ["idp_steps"]
exclude_patterns = ["_build"]
templates_path: list[str] = []
root_doc = "index"
highlight_language = "none"  # `::` blocks are shell or text; Python uses code-block
nitpicky = False

html_theme = "alabaster"
html_title = f"django-provisioning {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "SCIM 2.0 provisioning and SAML 2.0 sign-in for Django SaaS products",
    "fixed_sidebar": False,
}
