"""The layering that keeps the engine standalone, read from the source.

The engine (`zerodep_http/`) imports nothing of the supervisor or the
settings; the parser imports nothing of the engine and no asyncio; the
settings never import the supervisor; and the engine's modules import each
other in no circle, imports made only for type checking included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"zerodep_http": ROOT / "zerodep_http",
            "zerodep_http.supervisor": ROOT / "supervisor",
            "zerodep_http.config": ROOT / "config"}


def module_name(package: str, path: Path) -> str:
    return package if path.stem == "__init__" else f"{package}.{path.stem}"


def imports_of(package: str, path: Path) -> set[str]:
    """Every module `path` imports, absolute, type-checking imports included."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if path.stem != "__init__" or node.level > 1:
                    base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            found.add(module)
            # `from . import defaults` imports a module, not a name.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def graph(packages: dict[str, Path] = PACKAGES) -> dict[str, set[str]]:
    """Module name -> the project modules it imports."""
    modules = {module_name(package, path): (package, path)
               for package, directory in packages.items()
               for path in directory.glob("*.py")}
    return {name: {i for i in imports_of(*where) if i in modules or i.startswith("zerodep_http")}
            for name, where in modules.items()}


def engine_modules(edges: dict[str, set[str]]) -> list[str]:
    return sorted(name for name in edges
                  if name.startswith("zerodep_http") and not name.startswith(
                      ("zerodep_http.supervisor", "zerodep_http.config")))


def layering_violations(edges: dict[str, set[str]],
                        parser: Path = PACKAGES["zerodep_http"] / "parser.py") -> list[str]:
    problems = []
    for name, imported in sorted(edges.items()):
        for target in sorted(imported):
            if name in engine_modules(edges) and target.startswith(
                    ("zerodep_http.supervisor", "zerodep_http.config")):
                problems.append(f"{name} imports {target}")
            if name.startswith("zerodep_http.config") and target.startswith("zerodep_http.supervisor"):
                problems.append(f"{name} imports {target}")
    for target in sorted(imports_of("zerodep_http", parser)):
        if target.split(".")[0] == "asyncio" or (
                target.startswith("zerodep_http") and target != "zerodep_http"):
            problems.append(f"zerodep_http.parser imports {target}")
    return problems


def engine_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import circles among the engine's modules (depth-first search)."""
    engine = set(engine_modules(edges))
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges[node] & engine):
            if target == "zerodep_http" or node == "zerodep_http":
                continue  # the package facade re-exports; nothing imports it back
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(engine):
        if node not in state:
            visit(node)
    return cycles


def test_the_engine_imports_nothing_of_the_supervisor_or_the_settings():
    assert layering_violations(graph()) == []


def test_the_engine_modules_import_each_other_in_no_circle():
    assert engine_cycles(graph()) == []


@pytest.mark.parametrize(("source", "expected"), [
    ("from .config.values import IPAllowList\n", "zerodep_http.app imports zerodep_http.config"),
    ("from zerodep_http.supervisor import main\n", "zerodep_http.app imports zerodep_http.supervisor"),
    ("import asyncio\n", "zerodep_http.parser imports asyncio"),
])
def test_the_check_bites_on_a_back_import(tmp_path, source, expected):
    """A copy of the tree with one bad import added fails the check."""
    copies = {}
    for package, directory in PACKAGES.items():
        copy = copies[package] = tmp_path / directory.name
        copy.mkdir()
        for path in directory.glob("*.py"):
            (copy / path.name).write_text(path.read_text())
    bad = copies["zerodep_http"] / ("parser.py" if "parser" in expected else "app.py")
    bad.write_text(source + bad.read_text())
    problems = layering_violations(graph(copies), copies["zerodep_http"] / "parser.py")
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_circle_through_a_type_checking_import_is_found(tmp_path):
    engine = tmp_path / "zerodep_http"
    engine.mkdir()
    (engine / "a.py").write_text("from typing import TYPE_CHECKING\n"
                                 "if TYPE_CHECKING:\n    from .b import B\n")
    (engine / "b.py").write_text("from .a import A\n")
    cycles = engine_cycles(graph({"zerodep_http": engine}))
    assert cycles == [["zerodep_http.a", "zerodep_http.b", "zerodep_http.a"]]
