"""The import graph of the source tree: the package layering, no cycle, theory's math free of plumbing.

Edges are read from the source with ``ast`` (every ``import`` statement, at module level or inside a
function, since a lazy import is a dependency too; only ``if TYPE_CHECKING:`` blocks are left out, they
never run). A name imported from a package counts as an edge to its submodule when one exists
(``from theory import ledger`` -> ``theory.ledger``), otherwise to the package itself.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The documented layering: each package may import the ones before it, never after.
LAYERS = ("theory", "networks", "sim", "figures")
#: theory's math: it may use theory.validate, theory.registry and theory.inputs (argument checks and
#: registries), never the plumbing (run directories, records, configs, progress) nor the ledger.
MATH = ("theory", "theory.bounds", "theory.subset_sum", "theory.coverage", "theory.oracle", "theory.stats",
        "theory.symbolic", "theory.rules", "theory.inputs")
MATH_MAY_USE = ("theory.validate", "theory.registry")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for top in LAYERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    found: set[str] = set()

    def target(name: str) -> str | None:
        # The longest known prefix: ``theory.ledger.checks`` -> itself, ``numpy.linalg`` -> None.
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in known:
                return ".".join(parts[:k])
        return None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (t := target(alias.name)) is not None:
                    found.add(t)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                t = sub if sub in known else target(base)
                if t is not None:
                    found.add(t)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {
        name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
        for name, path in mods.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_scanner_sees_edges_and_cycles() -> None:
    # The checks below can fail: the scanner finds real edges, relative imports and a planted cycle.
    known = {"p", "p.a", "p.b", "p.c"}
    tree = ast.parse("from . import b\nimport p.c\ndef f():\n    from p.a import x\n"
                     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.c as hidden\n")
    assert _imports(tree, "p.a", False, known) == {"p.b", "p.c"}
    tree = ast.parse("if TYPE_CHECKING:\n    from p import b\n")
    assert _imports(tree, "p.a", False, known) == set()
    assert _cycles({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}) == [["p.a", "p.b", "p.c"]]
    assert _cycles({"p.a": {"p.b"}, "p.b": set()}) == []


def test_graph_holds_the_known_edges(graph) -> None:
    # Sanity: the scan is not empty (a broken scanner would pass every check below).
    assert "theory.ledger.evidence" in graph["theory.ledger"]
    assert "theory.plumbing.records" in graph["theory.ledger.evidence"]
    assert "theory.ledger" in graph["theory.claims"]
    assert "sim.executors" in graph["sim.cells"]


def test_packages_depend_one_way(graph) -> None:
    rank = {p: i for i, p in enumerate(LAYERS)}
    bad = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if rank[b.split(".")[0]] > rank[a.split(".")[0]]
    )
    assert not bad, f"imports against the layering {' -> '.join(LAYERS)}: {bad}"


def test_no_import_cycle(graph) -> None:
    assert _cycles(graph) == [], "import cycles (each a strongly connected component)"


def _is_math(module: str) -> bool:
    return any(module == m or (m != "theory" and module.startswith(m + ".")) for m in MATH)


def test_theory_math_imports_no_plumbing(graph) -> None:
    # Everything a math module reaches, directly or through other modules, stays in math + validate/registry.
    for start in (m for m in graph if _is_math(m)):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        stray = sorted(m for m in seen if not (_is_math(m) or m in MATH_MAY_USE))
        assert not stray, f"{start} reaches {stray}: theory's math may use only {MATH_MAY_USE}"


def test_importing_the_math_loads_no_plumbing() -> None:
    # The same at run time (auto-discovered rule modules included), in a fresh interpreter.
    code = (
        "import sys, theory, theory.bounds, theory.coverage, theory.oracle, theory.stats, theory.symbolic, "
        "theory.subset_sum, theory.rules as r; r.load_rules(); "
        "bad = sorted(m for m in sys.modules if m.startswith(('theory.plumbing', 'theory.ledger', 'torch')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
