"""Import graph of ``src/spikegrad``: packages form layers, imports only go down, no cycles.

Every module is parsed with :mod:`ast` (imports inside functions and ``TYPE_CHECKING``
blocks count too; relative imports are resolved). A module's *unit* is its top-level
package under ``spikegrad`` (``spikegrad.nn.lif`` -> ``nn``, ``spikegrad.cli`` -> ``cli``,
the package ``__init__`` itself -> ``spikegrad``). An import from unit ``a`` to unit
``b`` must not go up (:data:`LAYERS`, bottom first; units of one layer may import each
other), and the unit graph must have no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "spikegrad"

#: Layers, bottom first. A unit may import units of its own layer or of lower ones.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_checks", "_files"),
    ("viz",),
    ("functional",),
    ("kernels",),
    ("init",),
    ("data",),
    ("nn",),
    ("io",),  # io.nir builds nn modules, so io sits above nn
    ("tasks",),
    ("learning",),
    ("perturbation", "spiketrain", "online", "symmetry"),  # topic packages
    ("experiments",),
    ("api",),
    ("commands", "cli", "__main__", ROOT),  # entry points and the package __init__
)

#: Module-level edges ``(importer, imported)`` that break the layering today and are
#: being fixed; they are skipped by both checks. Empty this set as they go (a stale
#: entry fails :func:`test_known_to_fix_is_not_stale`).
#: (The last one, learning.bptt -> experiments.plots, went when the trainer moved to
#: viz.plots.) Add an entry only with a comment saying who fixes it.
KNOWN_TO_FIX: frozenset[tuple[str, str]] = frozenset()


# ------------------------------------------------------------------ the graph
def module_names(src: Path = SRC, root: str = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module under ``src/root``."""
    out = {}
    for f in sorted((src / root).rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(module: str, path: Path, modules: set[str]) -> Iterable[str]:
    """Absolute names of the ``root`` modules that ``module`` imports (anywhere in it)."""
    is_pkg = path.name == "__init__.py"
    package = module.split(".") if is_pkg else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level > len(package):
                    raise AssertionError(f"{module}: relative import beyond the top package")
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import name`: name is a submodule, or an attribute of pkg
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
            yield from subs or [target]


def import_edges(src: Path = SRC, root: str = ROOT) -> set[tuple[str, str]]:
    """All ``(importer, imported)`` module edges inside the ``root`` package."""
    mods = module_names(src, root)
    names = set(mods)
    edges = set()
    for m, path in mods.items():
        for t in _imports(m, path, names):
            if t == root or t.startswith(root + "."):
                edges.add((m, t))
    return edges


def unit(module: str, root: str = ROOT) -> str:
    """Top-level package of ``module`` under ``root`` (``root`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else root


# ----------------------------------------------------------------- the checks
def layer_violations(
    edges: Iterable[tuple[str, str]], layers: tuple[tuple[str, ...], ...] = LAYERS
) -> list[str]:
    """Upward imports and imports from or to units missing from ``layers``, as messages."""
    rank = {u: i for i, layer in enumerate(layers) for u in layer}
    out = []
    for a, b in sorted(edges):
        ua, ub = unit(a), unit(b)
        if ua == ub:
            continue
        missing = [u for u in (ua, ub) if u not in rank]
        if missing:
            out.append(f"{a} -> {b}: unit(s) {missing} not in LAYERS (place them there)")
        elif rank[ub] > rank[ua]:
            out.append(f"{a} -> {b}: upward import ({ua!r} is below {ub!r})")
    return out


def unit_cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        ua, ub = unit(a), unit(b)
        graph.setdefault(ua, set())
        graph.setdefault(ub, set())
        if ua != ub:
            graph[ua].add(ub)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(sccs)


# ------------------------------------------------------------------- the tests
@pytest.fixture(scope="module")
def edges() -> set[tuple[str, str]]:
    return import_edges()


def test_graph_is_read(edges):
    # sanity: the walk sees relative, absolute and function-level imports
    assert ("spikegrad.nn.lif", "spikegrad.kernels.lif_numba") in edges  # from ..kernels import
    assert ("spikegrad.data.randman", "spikegrad.data.spikes") in edges  # absolute import
    assert ("spikegrad.data.registry", "spikegrad.data.randman") in edges  # inside a function
    assert len({unit(a) for a, _ in edges}) >= 10


def test_no_upward_imports(edges):
    bad = layer_violations(edges - KNOWN_TO_FIX)
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_no_cycles_between_packages(edges):
    cycles = unit_cycles(edges - KNOWN_TO_FIX)
    assert not cycles, f"import cycles between packages: {cycles}"


def test_known_to_fix_is_not_stale(edges):
    stale = sorted(KNOWN_TO_FIX - edges)
    assert not stale, f"fixed, remove from KNOWN_TO_FIX: {stale}"


def test_viz_is_the_bottom_layer(edges):
    # viz may use only the bottom helpers (_checks, _files): anything can draw a plot
    # without an import cycle
    assert {unit(b) for a, b in edges if unit(a) == "viz"} <= {"viz", "_checks", "_files"}
    # and _files (atomic writes) imports nothing of spikegrad at all
    assert {b for a, b in edges if unit(a) == "_files"} == set()


# ------------------------------------------------------- the checks can fail
def test_checks_report_an_upward_edge_and_a_cycle():
    ok = {("spikegrad.nn.lif", "spikegrad.kernels.x"), ("spikegrad.cli", "spikegrad")}
    assert layer_violations(ok) == []
    assert unit_cycles(ok) == []
    up = ok | {("spikegrad.data.spikes", "spikegrad.nn.lif")}
    assert layer_violations(up) == [
        "spikegrad.data.spikes -> spikegrad.nn.lif: upward import ('data' is below 'nn')"
    ]
    # same layer, so no layering error, but a cycle
    cyc = ok | {("spikegrad.online.a", "spikegrad.symmetry.b"),
                ("spikegrad.symmetry.c", "spikegrad.online.d")}  # fmt: skip
    assert layer_violations(cyc) == []
    assert unit_cycles(cyc) == [["online", "symmetry"]]
    # a three-unit cycle through an upward edge is reported by both
    tri = {("spikegrad.nn.a", "spikegrad.kernels.b"), ("spikegrad.kernels.b", "spikegrad.init.c"),
           ("spikegrad.init.c", "spikegrad.nn.d")}  # fmt: skip
    assert unit_cycles(tri) == [["init", "kernels", "nn"]]
    assert len(layer_violations(tri)) == 2  # kernels -> init and init -> nn go up
    assert "not in LAYERS" in layer_violations({("spikegrad.newpkg.a", "spikegrad._checks")})[0]


def test_relative_imports_are_resolved(tmp_path):
    pkg = tmp_path / "fake"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import thing\n")
    (pkg / "top.py").write_text("from . import other\nfrom . import VERSION\n")
    (pkg / "other.py").write_text("import fake.sub.deep as d\n")
    (pkg / "sub" / "__init__.py").write_text("def f():\n    from ..other import g\n")
    (pkg / "sub" / "deep.py").write_text("from .. import top\nfrom . import x\n")
    assert import_edges(tmp_path, "fake") == {
        ("fake", "fake.sub"),
        ("fake.top", "fake.other"),
        ("fake.top", "fake"),
        ("fake.other", "fake.sub.deep"),
        ("fake.sub", "fake.other"),
        ("fake.sub.deep", "fake.top"),
        ("fake.sub.deep", "fake.sub"),
    }
