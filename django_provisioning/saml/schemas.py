"""python3-saml's XML schemas compiled once per thread, not once per message.

In strict mode python3-saml checks every SAML message it reads against its own XSD files
(``OneLogin_Saml2_XML.validate_xml``: the protocol schema, which imports the assertion,
signature and encryption schemas), and compiles that schema again on each call: about 1.3 ms,
nearly half of a bare ``is_valid``. It compiles through a class attribute,
``OneLogin_Saml2_XML._schema_class`` (``lxml.etree.XMLSchema``). :func:`install` (run by the
app's ``ready()``) puts :func:`compiled_schema` there: for a file of python3-saml's own
``schemas`` folder it returns the schema this thread compiled before from the same file, and
for anything else it compiles as before. The documents are checked against the same files by
the same lxml call; only the compiling is not repeated. It applies to every python3-saml
caller in the process (a host's own use of python3-saml gets the same, unchanged, checks).

A kept schema is given only for a tree of the same text as the one it was compiled from, and a
schema is kept only when its tree has the text of the file its URL names (one serialization
per call, about 0.05 ms): a tree that merely claims one of python3-saml's files (lxml lets any
caller set ``docinfo.URL``, or parse other text with that ``base_url``) gets a schema of its
own text, and is never kept for python3-saml's later messages in that thread. Any other call
(not one tree, keywords) is ``etree.XMLSchema``'s as it is.

One per thread, never shared: an lxml validator keeps its error log on the object, and lxml
does not document one validator as safe to use from two threads at once.
"""

from __future__ import annotations

import threading
from os.path import dirname, join
from typing import Any

from lxml import etree
from onelogin.saml2 import xml_utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

#: The folder ``validate_xml`` reads its schemas from (it joins the same parts).
SCHEMAS_DIR = join(dirname(xml_utils.__file__), "schemas")

_local = threading.local()


def compiled_schema(*args: Any, **kwargs: Any) -> etree.XMLSchema:
    """``etree.XMLSchema(tree)``, compiled once per thread for python3-saml's own files."""
    tree = args[0] if len(args) == 1 and not kwargs else None
    if not isinstance(tree, etree._ElementTree):
        return etree.XMLSchema(*args, **kwargs)  # not the call validate_xml makes: as before
    url = tree.docinfo.URL
    if not url or dirname(url) != SCHEMAS_DIR:
        return etree.XMLSchema(tree)
    cache: dict[str, tuple[bytes, etree.XMLSchema]] | None = getattr(_local, "schemas", None)
    if cache is None:
        cache = _local.schemas = {}
    text = etree.tostring(tree)
    kept = cache.get(url)
    if kept is not None and kept[0] == text:
        return kept[1]
    schema = etree.XMLSchema(tree)
    if text == _file_text(url):
        cache[url] = (text, schema)
    return schema


def _file_text(path: str) -> bytes | None:
    """The file *path* parsed and serialized as ``validate_xml`` reads it (None: unreadable)."""
    try:
        with open(path) as handle:
            return bytes(etree.tostring(etree.parse(handle)))
    except (OSError, ValueError, etree.Error):
        return None


def install() -> bool:
    """Make python3-saml compile its schemas through :func:`compiled_schema`.

    Only over python3-saml's own default (``etree.XMLSchema``): a class some other code put
    there, or no such attribute (another python3-saml), is left alone. Returns whether
    :func:`compiled_schema` is in place.
    """
    current = OneLogin_Saml2_XML.__dict__.get("_schema_class")
    if isinstance(current, staticmethod) and current.__func__ is compiled_schema:
        return True
    if current is not etree.XMLSchema:
        return False
    OneLogin_Saml2_XML._schema_class = staticmethod(compiled_schema)
    return True
