"""Layering: importing the library must stay light; missing extras say how to fix them."""

import subprocess
import sys

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
