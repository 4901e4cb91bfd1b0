"""python3-saml's XML schemas compiled once per thread (``django_provisioning.saml.schemas``):
the same documents refused, the compiling not repeated, nothing shared between threads."""

from __future__ import annotations

import threading
from os.path import join
from typing import Any

import pytest
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from django_provisioning.models import Connection, SamlAssertionReplay, SamlPendingLogin
from django_provisioning.saml import schemas

from .conftest import Browser
from .idp import NS, to_bytes, tree

PROTOCOL = join(schemas.SCHEMAS_DIR, "saml-schema-protocol-2.0.xsd")


def _parsed(path: str) -> Any:
    with open(path) as handle:  # as python3-saml's validate_xml reads it
        return etree.parse(handle)


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URL of every schema compiled from now on, with this thread's cache emptied."""
    monkeypatch.setattr(schemas._local, "schemas", {}, raising=False)
    compiled: list[str] = []
    real = etree.XMLSchema

    def counting(*args: Any, **kwargs: Any) -> Any:
        source = args[0] if args else None
        compiled.append(getattr(getattr(source, "docinfo", None), "URL", kwargs.get("file")))
        return real(*args, **kwargs)

    monkeypatch.setattr(schemas.etree, "XMLSchema", counting)
    return compiled


def test_the_app_installs_it() -> None:
    assert OneLogin_Saml2_XML._schema_class is schemas.compiled_schema
    assert schemas.install() is True  # again: nothing changes


def test_a_class_put_there_by_someone_else_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Theirs(etree.XMLSchema):  # type: ignore[misc]
        pass

    monkeypatch.setattr(OneLogin_Saml2_XML, "_schema_class", Theirs)
    assert schemas.install() is False
    assert OneLogin_Saml2_XML._schema_class is Theirs


@pytest.mark.django_db
def test_two_sign_ins_compile_the_protocol_schema_once(
    browser: Browser, saml_connection: Connection, compiles: list[str]
) -> None:
    assert browser.sign_in().status_code == 302
    assert browser.sign_in().status_code == 302
    assert compiles == [PROTOCOL]


@pytest.mark.django_db
@pytest.mark.parametrize("rounds", [1, 2], ids=["compiling", "compiled"])
def test_a_response_the_schema_refuses_is_still_refused(
    browser: Browser,
    saml_connection: Connection,
    compiles: list[str],
    caplog: pytest.LogCaptureFixture,
    rounds: int,
) -> None:
    """An element the protocol schema does not allow in a Response, outside the signed
    assertion (the signature still verifies): python3-saml's schema check refuses it, from a
    schema compiled for the purpose and from the one kept."""
    for _ in range(rounds - 1):  # a good sign-in first: the schema is compiled and kept
        assert browser.sign_in().status_code == 302
    request, relay_state = browser.start()
    root = tree(browser.response_for(request))
    status = root.find("samlp:Status", NS)
    status.addnext(etree.Element(f"{{{NS['samlp']}}}Extensions"))  # Extensions go first
    replays = SamlAssertionReplay.objects.count()
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(to_bytes(root), relay_state)
    assert response.status_code == 400
    assert "could not be read" in response.content.decode()
    assert "saml-schema-protocol-2.0.xsd" in caplog.text
    assert SamlAssertionReplay.objects.count() == replays  # nothing written
    assert not SamlPendingLogin.objects.exists()
    assert compiles == [PROTOCOL]


def test_each_thread_compiles_its_own(compiles: list[str]) -> None:
    mine = schemas.compiled_schema(_parsed(PROTOCOL))
    assert schemas.compiled_schema(_parsed(PROTOCOL)) is mine
    theirs: list[Any] = []
    thread = threading.Thread(
        target=lambda: theirs.append(schemas.compiled_schema(_parsed(PROTOCOL)))
    )
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert compiles == [PROTOCOL, PROTOCOL]


def test_other_schemas_are_compiled_every_time(compiles: list[str], tmp_path: Any) -> None:
    """A schema outside python3-saml's folder (a host's own) is not kept: its file may change."""
    path = tmp_path / "own.xsd"
    path.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:element name="a" type="xs:string"/></xs:schema>'
    )
    first = schemas.compiled_schema(_parsed(str(path)))
    second = schemas.compiled_schema(_parsed(str(path)))
    assert first is not second
    assert first.validate(etree.fromstring(b"<a>x</a>"))
    assert not first.validate(etree.fromstring(b"<b/>"))
    from_text = schemas.compiled_schema(etree.ElementTree(etree.fromstring(path.read_bytes())))
    assert from_text is not first  # no file behind it: compiled as before
    assert len(compiles) == 3


#: Text that is not python3-saml's protocol schema: any Response element, with anything in it.
LAX_PROTOCOL = (
    b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    b' targetNamespace="urn:oasis:names:tc:SAML:2.0:protocol">'
    b'<xs:element name="Response"><xs:complexType><xs:sequence>'
    b'<xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/>'
    b'</xs:sequence><xs:anyAttribute processContents="skip"/></xs:complexType></xs:element>'
    b"</xs:schema>"
)
#: A Response the protocol schema refuses (no Issuer or Status, an unknown attribute and child).
JUNK = (
    b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Anything="x">'
    b"<junk/></samlp:Response>"
)


def _claiming(url: str) -> Any:
    """A tree of other text whose URL claims *url* (lxml lets any caller say so)."""
    return etree.ElementTree(etree.fromstring(LAX_PROTOCOL, base_url=url))


def test_a_tree_only_claiming_python3_saml_s_file_is_not_kept(compiles: list[str]) -> None:
    """Compiled first in a thread, a schema of other text under the protocol file's URL is not
    kept for python3-saml's later messages: they are still checked against the file."""
    claiming = _claiming(PROTOCOL)
    assert claiming.docinfo.URL == PROTOCOL
    assert OneLogin_Saml2_XML._schema_class(claiming).validate(etree.fromstring(JUNK))
    assert OneLogin_Saml2_XML.validate_xml(JUNK, "saml-schema-protocol-2.0.xsd") == "invalid_xml"
    kept = schemas.compiled_schema(_parsed(PROTOCOL))
    assert schemas.compiled_schema(_parsed(PROTOCOL)) is kept  # the file's own is kept


def test_a_tree_only_claiming_python3_saml_s_file_gets_its_own_schema(
    compiles: list[str],
) -> None:
    """With the file's schema kept, a tree of other text under its URL is compiled from its
    own text, not answered with the kept schema."""
    kept = schemas.compiled_schema(_parsed(PROTOCOL))
    theirs = schemas.compiled_schema(_claiming(PROTOCOL))
    assert theirs is not kept
    assert theirs.validate(etree.fromstring(JUNK))
    assert schemas.compiled_schema(_parsed(PROTOCOL)) is kept  # and the kept one stays
    assert len(compiles) == 2


def test_other_calls_are_xml_schema_s_own(compiles: list[str]) -> None:
    """Not the one tree validate_xml passes (an element, the file by keyword): compiled by
    ``etree.XMLSchema`` itself, as before the app's ``ready()``."""
    by_file = schemas.compiled_schema(file=PROTOCOL)
    by_element = schemas.compiled_schema(_parsed(PROTOCOL).getroot())
    for schema in (by_file, by_element):
        assert not schema.validate(etree.fromstring(JUNK))
    assert len(compiles) == 2


def test_no_attribute_to_replace_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A python3-saml without ``_schema_class``: nothing is added, it compiles as it does."""
    monkeypatch.delattr(OneLogin_Saml2_XML, "_schema_class")
    assert schemas.install() is False
    assert "_schema_class" not in OneLogin_Saml2_XML.__dict__


def test_a_schema_file_changed_on_disk_is_compiled_again(
    compiles: list[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept schema answers only a tree of the text it was compiled from: a file of the
    folder rewritten while the process runs (python3-saml upgraded in place) is compiled
    again, and the new text kept."""
    monkeypatch.setattr(schemas, "SCHEMAS_DIR", str(tmp_path))
    path = tmp_path / "own.xsd"
    path.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:element name="a" type="xs:string"/></xs:schema>'
    )
    old = schemas.compiled_schema(_parsed(str(path)))
    assert schemas.compiled_schema(_parsed(str(path))) is old
    path.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:element name="b" type="xs:string"/></xs:schema>'
    )
    new = schemas.compiled_schema(_parsed(str(path)))
    assert new.validate(etree.fromstring(b"<b>x</b>"))
    assert not new.validate(etree.fromstring(b"<a>x</a>"))
    assert schemas.compiled_schema(_parsed(str(path))) is new
    assert len(compiles) == 2
