"""python3-saml's XML schemas compiled once per thread, not once per message.

In strict mode python3-saml checks every SAML message it reads against its own XSD files
(``OneLogin_Saml2_XML.validate_xml``: the protocol schema, which imports the assertion,
signature and encryption schemas), and compiles that schema again on each call: about 1.3 ms,
more than the rest of a bare ``is_valid``. It compiles through a class attribute,
``OneLogin_Saml2_XML._schema_class`` (``lxml.etree.XMLSchema``). :func:`install` (run by the
app's ``ready()``) puts :func:`compiled_schema` there: for a file of python3-saml's own
``schemas`` folder it returns the schema this thread compiled before from the same file, and
for anything else it compiles as before. The documents are checked against the same files by
the same lxml call; only the compiling is not repeated. It applies to every python3-saml
caller in the process (a host's own use of python3-saml gets the same, unchanged, checks).

One per thread, never shared: an lxml validator keeps its error log on the object, and lxml
does not document one validator as safe to use from two threads at once.
"""

from __future__ import annotations

import threading
from os.path import dirname, join

from lxml import etree
from onelogin.saml2 import xml_utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

#: The folder ``validate_xml`` reads its schemas from (it joins the same parts).
SCHEMAS_DIR = join(dirname(xml_utils.__file__), "schemas")

_local = threading.local()


def compiled_schema(tree: etree._ElementTree) -> etree.XMLSchema:
    """``etree.XMLSchema(tree)``, compiled once per thread for python3-saml's own files."""
    url = tree.docinfo.URL
    if not url or dirname(url) != SCHEMAS_DIR:
        return etree.XMLSchema(tree)
    cache: dict[str, etree.XMLSchema] | None = getattr(_local, "schemas", None)
    if cache is None:
        cache = _local.schemas = {}
    schema = cache.get(url)
    if schema is None:
        schema = cache[url] = etree.XMLSchema(tree)
    return schema


def install() -> bool:
    """Make python3-saml compile its schemas through :func:`compiled_schema`.

    Only over python3-saml's own default (``etree.XMLSchema``): a class some other code put
    there is left alone. Returns whether :func:`compiled_schema` is in place.
    """
    current = OneLogin_Saml2_XML.__dict__.get("_schema_class")
    if isinstance(current, staticmethod) and current.__func__ is compiled_schema:
        return True
    if current is not etree.XMLSchema:
        return False
    OneLogin_Saml2_XML._schema_class = staticmethod(compiled_schema)
    return True
