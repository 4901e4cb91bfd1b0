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

    def counting(tree: Any) -> Any:
        compiled.append(tree.docinfo.URL)
        return real(tree)

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
