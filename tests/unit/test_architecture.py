"""The package's shape: no import cycles between modules (imports inside functions and imports
of a package's ``__init__`` count), and the import-linter layers contract in pyproject.toml.

A failure names the modules of the cycle; break it by moving the shared piece down a layer
(CONTRIBUTING.md, "Layers"), never by hiding an import inside a function.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def module_graph(root: Path = SRC) -> dict[str, set[str]]:
    """module -> the memwarden modules it imports anywhere in its body."""
    files = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    modules = set(files)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for target in targets:
                found = resolve(target)
                if found is not None and found != mod and found.startswith("memwarden"):
                    graph[mod].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    pkg = tmp_path / "memwarden"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from memwarden import b\n")
    (pkg / "b.py").write_text("def f():\n    from memwarden.a import x\n")
    (pkg / "c.py").write_text("from . import a\n")
    assert cycles(module_graph(tmp_path)) == [["memwarden.a", "memwarden.b"]]


def test_no_import_cycles_between_modules() -> None:
    graph = module_graph()
    assert len(graph) > 50  # the whole package was read
    found = cycles(graph)
    detail = "\n".join(
        "  " + " <-> ".join(c) + "\n" + "\n".join(
            f"      {m} imports {', '.join(sorted(graph[m] & set(c)))}" for m in c)
        for c in found)
    assert not found, f"import cycles in src/memwarden:\n{detail}"


def test_the_layers_contract_holds() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed next to this python: "
                    "pip install -e '.[test]' (scripts/setup.sh --dev does)")
    r = subprocess.run([exe, "--no-cache"], capture_output=True, text=True,
                       cwd=SRC.parent, timeout=120)
    assert r.returncode == 0, (
        "the layers contract in pyproject.toml ([tool.importlinter]) is broken; "
        "CONTRIBUTING.md says which layer a module belongs to:\n" + r.stdout[-3000:])
