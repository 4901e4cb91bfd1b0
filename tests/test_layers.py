"""The shape of the package: the import rules of docs/architecture.rst, and no import cycles.

``tox -e lint`` checks the same contracts with ``lint-imports``; here they are part of the
suite a developer runs. The cycle test looks at modules, the contracts at packages too.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.application.use_cases import lint_imports

from django_provisioning import adapter, exceptions
from django_provisioning.scim import errors

ROOT = Path(__file__).resolve().parent.parent


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_modules():
    """Lazy imports count: a cycle they hide is still a cycle (adapter <-> conf was one)."""
    graph = grimp.build_graph("django_provisioning")
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def test_import_contracts_hold(monkeypatch):
    """The core imports neither door, scim and saml never each other, filtering is layered."""
    monkeypatch.chdir(ROOT)
    configuration.configure()  # what the lint-imports command does first
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)


def test_provisioning_denied_is_importable_from_the_adapter():
    """docs/adapter.rst imports it from there; it is the one class of exceptions.py."""
    assert adapter.ProvisioningDenied is exceptions.ProvisioningDenied


@pytest.mark.parametrize(
    ("core", "status", "scim_type"),
    [
        (exceptions.Conflict, 409, "uniqueness"),
        (exceptions.InvalidData, 400, "invalidValue"),
        (exceptions.ProvisioningDenied, 403, None),
        (exceptions.InvalidSyntax, 400, "invalidSyntax"),
        (exceptions.InvalidValue, 400, "invalidValue"),
        (exceptions.ImmutableAttribute, 400, "mutability"),
        (exceptions.InvalidPath, 400, "invalidPath"),
        (exceptions.ProvisioningError, 400, None),
    ],
)
def test_the_scim_door_translates_every_core_error(core, status, scim_type):
    error = errors.from_core(core("what went wrong"))
    assert (error.status, error.scim_type, error.detail) == (status, scim_type, "what went wrong")
