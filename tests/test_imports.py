"""Layering: importing the library must stay light; no import cycles (read from the sources with
``ast``); apps use public names only; missing extras say how to fix them."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from manifold_nets.errors import MissingDependencyError, optional_import


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("stmt", ["import manifold_nets", "import manifold_nets.geometry",
                                  "from manifold_nets import repair, topology, io, shapes"])
def test_no_torch_or_pyvista_on_import(stmt):
    mods = _modules_after(stmt)
    for heavy in ("torch", "pyvista", "vtk", "distributed", "dask"):
        assert heavy not in mods, f"{stmt!r} imported {heavy}"


def test_geometry_sources_never_import_torch():
    from pathlib import Path

    import manifold_nets.geometry as g

    for f in Path(g.__file__).parent.rglob("*.py"):
        for line in f.read_text().splitlines():
            s = line.strip()
            assert not s.startswith(("import torch", "from torch")), f"{f.name}: {s}"


def test_missing_extra_names_the_pip_command():
    with pytest.raises(MissingDependencyError, match=r"pip install 'manifold-nets\[viz\]'"):
        optional_import("pyvista_does_not_exist", extra="viz", purpose="viewing")
    with pytest.raises(ImportError, match="pip install some_missing_pkg"):
        optional_import("some_missing_pkg")


# -- the import graph, read from the sources (every import, including those inside functions) --

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "manifold_nets"


def _module_name(path: Path, root: Path, top: str) -> str:
    parts = [top, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> list[tuple[str, str]]:
    """``(module, imported name)`` for every import statement in the file, relative ones resolved;
    ``from a import b`` gives ``("a", "b")``, ``import a.b`` gives ``("a.b", "")``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            out += [(base, a.name) for a in node.names]
    return out


def import_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """Module -> the package modules it imports.  ``from p import x`` counts as importing
    ``p.x`` when that is a module, else ``p``.  Importing ``__version__`` from the package root
    does not count: the root defines it before importing anything."""
    files = {_module_name(p, pkg, pkg.name): p for p in pkg.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        deps = set()
        for mod, attr in _imports(path, name):
            if attr == "__version__" and mod == pkg.name:
                continue
            target = f"{mod}.{attr}" if f"{mod}.{attr}" in files else mod
            while target and target not in files:  # import a.b.c where only a.b is a module
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_graph_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "pk"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("__version__ = '1'\n")
    (pkg / "low.py").write_text("def f():\n    from .high import g\n    from . import __version__\n")
    (pkg / "high.py").write_text("from pk.low import f\n")
    g = import_graph(pkg)
    assert g["pk.low"] == {"pk.high"} and g["pk.high"] == {"pk.low"}
    assert find_cycle(g) == ["pk.high", "pk.low", "pk.high"]


def test_no_import_cycles_among_library_modules():
    g = import_graph()
    assert {"manifold_nets.io", "manifold_nets.mesh", "manifold_nets.repair"} <= set(g)
    assert find_cycle(g) is None, " -> ".join(find_cycle(g))


def test_io_sits_below_mesh_and_repair():
    g = import_graph()
    assert not g["manifold_nets.io"] & {"manifold_nets.mesh", "manifold_nets.repair"}
    assert not g["manifold_nets.polygons"] - {"manifold_nets.errors"}


def test_apps_use_only_public_names():
    bad = []
    for path in sorted((REPO / "apps").rglob("*.py")):
        for mod, attr in _imports(path, _module_name(path, REPO / "apps", "manifold_nets_apps")):
            if mod.split(".")[0] != "manifold_nets":
                continue
            names = mod.split(".")[1:] + ([attr] if attr else [])
            if any(n.startswith("_") and n != "__version__" for n in names):
                bad.append(f"{path.name}: {mod} {attr}".strip())
    assert not bad, bad


def test_only_torch_free_layers_below_nn():
    """geometry/ (and every top-level module) never imports torch, even inside a function."""
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("nn", "testing", "tasks"):
            continue
        for mod, _ in _imports(path, _module_name(path, PKG, PKG.name)):
            if mod.split(".")[0] == "torch":
                offenders.append(str(rel))
    assert not offenders, offenders


def test_file_helpers_live_in_one_public_module():
    """``atomic_write`` and ``expand_paths`` are public (``manifold_nets.files``); no private
    ``_files`` module remains in the library or the apps."""
    from manifold_nets.files import atomic_write, expand_paths  # noqa: F401

    assert not [p for d in (PKG, REPO / "apps") for p in d.rglob("_files.py")]
