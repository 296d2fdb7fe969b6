"""Count the copies of each piece of infrastructure in the package (issue 10's acceptance counts).

Usage: ``python scripts/architecture_counts.py [REPO_ROOT]`` prints one line per count (the number, the
target, and the sites found) and exits 1 when a count is off its target. ``tests/test_architecture.py``
asserts the same counts, and checks that each checker finds a planted copy.

Every checker reads the package's sources (``theory/ sim/ networks/ figures/``, as ``{relative path:
source}``) with :mod:`ast`, never imports them, so a planted copy in a synthetic source is counted too.
The counts and what each looks for:

* **training loops** (target 1): functions that call ``<x>.backward(...)``, ``torch.autograd.backward``
  or ``<optimizer>.step()`` (a receiver whose name contains ``opt``). Outside them no code runs optimizer
  steps over batches. The HVP and loss-change math (``networks/hvp.py``, ``networks/loss_change.py``)
  differentiates with ``torch.autograd.grad`` and is left out by path.
* **SubsetSum engines** (target 1, plus the brute-force oracle): the homes (``theory/subset_sum/`` is one
  home, any other module one each) of functions whose name says they solve or enumerate SubsetSum
  (``best_subset``, ``best_subsets``, ``*_subset_sums``, ``solve_subset*``...); ``theory/oracle.py`` is
  counted apart as the oracle.
* **coverage implementations** (target 1, plus the oracle): modules defining a function named
  ``*coverage_error*`` or ``*sup_distance*`` (the coverage error's computation), the oracle apart.
* **run-directory implementations** (target 1): modules that write ``config.json``, ``env.json`` or
  ``DONE`` (a call that is not a read, ``exists`` or load, with one of those names in its arguments or
  receiver); only ``theory/plumbing/rundir.py`` may.
* **preset mechanisms** (target 1): ``sim/experiments.py`` (``Experiment.presets`` and
  ``Experiment.preset``) plus one for every module where a scale-preset table (a dict literal keyed by
  "quick" and "full") is used for anything but an argument of ``Experiment(...)``.
* **top-k implementations** (target 1): modules calling ``topk``, ``kthvalue``, ``argsort``,
  ``argpartition`` or ``sort`` under ``networks/`` (where masks live), or ``topk`` / ``kthvalue``
  anywhere; only ``networks/masks.py`` may. ``networks/loss_change.py``'s ``allocate`` (largest-remainder
  apportionment of swap COUNTS over layers, no element selection) is the one listed exemption.
* **import cycles** (target 0): strongly connected components of more than one module in the import
  graph of ``tests/test_import_graph.py`` (its definition, called on the sources given).
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

PACKAGES = ("theory", "sim", "networks", "figures")
TARGETS = {
    "training loops": 1,
    "SubsetSum engines": 1,
    "SubsetSum oracles": 1,
    "coverage implementations": 1,
    "coverage oracles": 1,
    "run-directory implementations": 1,
    "preset mechanisms": 1,
    "top-k implementations": 1,
    "import cycles": 0,
}

ORACLE = "theory/oracle.py"
RUNDIR = "theory/plumbing/rundir.py"
EXPERIMENTS = "sim/experiments.py"
MASKS = "networks/masks.py"
DIFFERENTIATION_MATH = ("networks/hvp.py", "networks/loss_change.py")
# path -> function: a sort that is not an element selection for masks (why: see the module docstring).
TOPK_EXEMPT = {"networks/loss_change.py": "allocate"}
RUN_FILES = {"config.json", "env.json", "DONE"}


@functools.cache
def _parse(src: str) -> ast.Module:
    """Parsed once per distinct source (every checker walks the same trees)."""
    return ast.parse(src)


@functools.cache
def _all_nodes(src: str) -> tuple[ast.AST, ...]:
    return tuple(ast.walk(_parse(src)))


@functools.cache
def _function_calls(src: str) -> tuple[tuple[str, tuple[ast.Call, ...]], ...]:
    """``(qualified name, its own calls)`` per function of a source, module code as ``<module>``."""
    return tuple((qual, tuple(_calls(fn))) for qual, fn in _functions(_parse(src)))


def read_sources(root: str | Path) -> dict[str, str]:
    """``{path relative to root: source}`` of every ``.py`` file of the four packages."""
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for pkg in PACKAGES
        for p in sorted((root / pkg).rglob("*.py"))
    }


def _functions(tree: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """``(qualified name, node)`` of each function (methods ``Class.method``), module code as ``<module>``."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield f"{prefix}{child.name}", child
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")

    yield "<module>", tree
    yield from walk(tree, "")


def _own_nodes(fn: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _name(node: ast.AST) -> str:
    """The last name of a callee or receiver (``a.b.c`` -> ``c``, ``f`` -> ``f``), else ""."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _calls(fn: ast.AST) -> Iterator[ast.Call]:
    return (n for n in _own_nodes(fn) if isinstance(n, ast.Call))


# ------------------------------------------------------------------------------------------ counts
def training_loops(sources: Mapping[str, str]) -> list[str]:
    """Functions that run backward passes or optimizer steps (``path::function``)."""
    sites = []
    for path, src in sources.items():
        if path in DIFFERENTIATION_MATH:
            continue
        for qual, calls in _function_calls(src):
            for call in calls:
                f = call.func
                if not isinstance(f, ast.Attribute):
                    continue
                backward = f.attr == "backward"  # tensor.backward() and torch.autograd.backward()
                step = f.attr == "step" and not call.args and "opt" in _name(f.value).lower()
                if backward or step:
                    sites.append(f"{path}::{qual}")
                    break
    return sorted(set(sites))


def _solver_name(name: str) -> bool:
    n = name.lower()
    return "subset" in n and any(w in n for w in ("best", "sums", "solve", "half_sum"))


def subset_sum_engines(sources: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(engine homes, oracle homes)``: where functions solving or enumerating SubsetSum are defined."""
    engines, oracles = set(), set()
    for path, src in sources.items():
        for qual, _ in _functions(_parse(src)):
            if qual != "<module>" and _solver_name(qual.rsplit(".", 1)[-1]):
                if path == ORACLE:
                    oracles.add(path)
                else:
                    engines.add("theory/subset_sum/" if path.startswith("theory/subset_sum/") else path)
    return sorted(engines), sorted(oracles)


def coverage_implementations(sources: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(implementations, oracles)``: modules defining a coverage-error computation."""
    impl, oracles = set(), set()
    for path, src in sources.items():
        for qual, _ in _functions(_parse(src)):
            name = qual.rsplit(".", 1)[-1].lower()
            if qual != "<module>" and ("coverage_error" in name or "sup_distance" in name):
                (oracles if path == ORACLE else impl).add(path)
    return sorted(impl), sorted(oracles)


def _constants_outside_calls(node: ast.AST) -> Iterator[str]:
    """String constants in an expression, not looking inside nested calls (their own arguments)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            yield n.value
        elif not isinstance(n, ast.Call):
            stack.extend(ast.iter_child_nodes(n))


_READS = ("read", "exists", "load", "is_file", "is_dir", "stat")


def run_directory_writers(sources: Mapping[str, str]) -> list[str]:
    """Modules writing ``config.json``, ``env.json`` or ``DONE`` (``path::function``)."""
    sites = set()
    for path, src in sources.items():
        if not any(name in src for name in RUN_FILES):  # cheap: most modules never name them
            continue
        for qual, calls in _function_calls(src):
            for call in calls:
                callee = _name(call.func).lower()
                if any(r in callee for r in _READS):
                    continue
                parts = [*call.args, *(k.value for k in call.keywords)]
                if isinstance(call.func, ast.Attribute):
                    parts.append(call.func.value)
                if any(c in RUN_FILES for part in parts for c in _constants_outside_calls(part)):
                    sites.add(f"{path}::{qual}")
    return sorted(sites)


def _is_table(node: ast.AST) -> bool:
    """A dict literal keyed by "quick" and "full": a scale-preset table."""
    if not isinstance(node, ast.Dict):
        return False
    return {"quick", "full"} <= {k.value for k in node.keys if isinstance(k, ast.Constant)}


def _imported_names(nodes: tuple[ast.AST, ...], module: str, is_package: bool) -> dict[str, tuple[str, str]]:
    """``{local name: (source module, name there)}`` of a module's ``from X import Y [as Z]`` statements."""
    out = {}
    base = module if is_package else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            src = _resolve(base, node.level, node.module)
            for a in node.names:
                out[a.asname or a.name] = (src, a.name)
    return out


def preset_mechanisms(sources: Mapping[str, str]) -> list[str]:
    """``sim/experiments.py`` plus every module using a scale-preset table other than in ``Experiment(...)``.

    A module counts when it reads a table (its own or one it imports) outside the arguments of an
    ``Experiment(...)`` call (e.g. ``PRESETS[scale]``), holds an inline table that is not such an argument,
    or defines a table that no ``Experiment(...)`` anywhere receives.
    """
    # Cheap text filters first: a table needs the word "quick", a use of one its name.
    defining = {path for path, src in sources.items() if "quick" in src}
    tables_text = {
        t.id
        for path in defining
        for node in _all_nodes(sources[path])
        if isinstance(node, ast.Assign | ast.AnnAssign) and _is_table(node.value)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    relevant = {
        path
        for path, src in sources.items()
        if path in defining or "Experiment(" in src or any(name in src for name in tables_text)
    }
    trees = {path: _all_nodes(sources[path]) for path in sorted(relevant)}
    info = {}
    received: set[tuple[str, str]] = set()
    for path, nodes in trees.items():
        mod = _module_name(path)
        bound = {}
        for node in nodes:
            if isinstance(node, ast.Assign | ast.AnnAssign) and _is_table(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                bound.update({t.id: node.value for t in targets if isinstance(t, ast.Name)})
        imported = _imported_names(nodes, mod, path.endswith("__init__.py"))
        allowed: set[int] = set()
        for call in (n for n in nodes if isinstance(n, ast.Call)):
            if _name(call.func) == "Experiment":
                for a in [*call.args, *(k.value for k in call.keywords)]:
                    allowed.add(id(a))
                    if isinstance(a, ast.Name):
                        received.add(imported.get(a.id, (mod, a.id)) if a.id not in bound else (mod, a.id))
        info[path] = (mod, bound, imported, allowed)
    tables = {(mod, name) for mod, bound, _, _ in info.values() for name in bound}
    sites = {EXPERIMENTS} if EXPERIMENTS in sources else set()
    for path, nodes in trees.items():
        if path == EXPERIMENTS:
            continue
        mod, bound, imported, allowed = info[path]
        visible = set(bound) | {n for n, src in imported.items() if src in tables}
        values = {id(v) for v in bound.values()}
        for node in nodes:
            if isinstance(node, ast.Name) and node.id in visible and isinstance(node.ctx, ast.Load):
                if id(node) not in allowed:
                    sites.add(path)
            elif _is_table(node) and id(node) not in allowed and id(node) not in values:
                sites.add(path)
        if any((mod, name) not in received for name in bound):
            sites.add(path)
    return sorted(sites)


_SORTS_NETWORKS = {"topk", "kthvalue", "argsort", "argpartition", "msort"}
_SORTS_ANYWHERE = {"topk", "kthvalue"}


def topk_implementations(sources: Mapping[str, str]) -> list[str]:
    """Modules selecting top-k elements (``path::function``); ``networks/masks.py`` is the one home."""
    sites = set()
    for path, src in sources.items():
        names = _SORTS_NETWORKS if path.startswith("networks/") else _SORTS_ANYWHERE
        for qual, calls in _function_calls(src):
            if TOPK_EXEMPT.get(path) == qual:
                continue
            if any(_name(c.func) in names for c in calls):
                sites.add(path if path == MASKS else f"{path}::{qual}")
    return sorted(sites)


def _module_name(path: str) -> str:
    mod = path[:-3].replace("/", ".")
    return mod[: -len(".__init__")] if mod.endswith(".__init__") else mod


def _resolve(base: str, level: int, module: str | None) -> str:
    """The absolute module of ``from <level dots><module> import ...`` inside package ``base``."""
    if not level:
        return module or ""
    parts = base.split(".")
    prefix = ".".join(parts[: len(parts) - (level - 1)])
    return f"{prefix}.{module}" if module else prefix


def _import_graph_module():
    """``tests/test_import_graph.py``: the one definition of the import graph and its cycle search."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "tests" / "test_import_graph.py"
    spec = importlib.util.spec_from_file_location("_slth_import_graph", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_cycles(sources: Mapping[str, str]) -> list[list[str]]:
    """Import cycles among the package's modules (each a sorted list of module names).

    The graph and the cycle search are those of ``tests/test_import_graph.py`` (every import statement,
    lazy ones too, ``if TYPE_CHECKING:`` blocks excluded), applied to ``sources``.
    """
    ig = _import_graph_module()
    modules = {_module_name(p): p for p in sources}
    known = set(modules)
    graph = {
        mod: ig._imports(_parse(sources[path]), mod, path.endswith("__init__.py"), known)
        for mod, path in modules.items()
    }
    return sorted(ig._cycles(graph))


def counts(sources: Mapping[str, str]) -> dict[str, tuple[int, list]]:
    """``{count name: (number, sites)}`` for every count of :data:`TARGETS`."""
    engines, ss_oracles = subset_sum_engines(sources)
    coverage, cov_oracles = coverage_implementations(sources)
    runs = run_directory_writers(sources)
    run_homes = sorted({RUNDIR} | {s.split("::")[0] for s in runs})
    cycles = import_cycles(sources)
    loops = training_loops(sources)
    topk = topk_implementations(sources)
    presets = preset_mechanisms(sources)
    return {
        "training loops": (len(loops), loops),
        "SubsetSum engines": (len(engines), engines),
        "SubsetSum oracles": (len(ss_oracles), ss_oracles),
        "coverage implementations": (len(coverage), coverage),
        "coverage oracles": (len(cov_oracles), cov_oracles),
        "run-directory implementations": (len(run_homes), [RUNDIR, *runs]),
        "preset mechanisms": (len(presets), presets),
        "top-k implementations": (len(topk), topk),
        "import cycles": (len(cycles), cycles),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the counts of the repository at ``argv[0]`` (default: this script's repository)."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    ok = True
    for name, (n, sites) in counts(read_sources(root)).items():
        target = TARGETS[name]
        ok &= n == target
        mark = "ok" if n == target else "OFF"
        print(f"{name:32s} {n:3d}  (target {target}) {mark}: {', '.join(map(str, sites)) or '-'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
