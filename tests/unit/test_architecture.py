"""The house rules of the code base, checked on the source itself (no imports executed):

- the import graph of the product packages (registry, connectors, orchestration) has no circle, counting
  every import, also those inside functions;
- connectors never import Dagster or the orchestration (a connector is usable without the orchestrator);
- registry imports neither connectors nor orchestration;
- no product module imports the demo generators (they are not shipped);
- no product file grows past 600 lines.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("registry", "connectors", "orchestration")
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PRODUCT for p in (REPO / package).rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Product modules ``path`` imports (resolved to the longest known module name)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            parts = name.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts:
                found.add(".".join(parts))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        # A package's __init__ is imported with any of its submodules: edges to a bare package are
        # edges to its __init__ only, which is what Python executes.
        graph[name] = {m for m in _imports(path, modules) if m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_the_import_graph_has_no_circle() -> None:
    assert _cycles(_graph()) == []


def _third_party_imports(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("connectors", {"dagster", "dagster_dbt", "orchestration", "demo"}),
        ("registry", {"dagster", "connectors", "orchestration", "demo"}),
        ("orchestration", {"demo"}),
    ],
)
def test_layers_import_only_downward(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(_third_party_imports(path) & forbidden)
        for path in (REPO / package).rglob("*.py")
        if _third_party_imports(path) & forbidden
    }
    # The CLI's `costlake demo` is the one door to the demo generators (imported when that command runs).
    offenders.pop("orchestration/app/cli.py", None)
    assert offenders == {}


def test_no_product_file_exceeds_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for package in PRODUCT
        for path in (REPO / package).rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
