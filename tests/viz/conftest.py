"""Off-screen rendering for the viz tests: the ``rendering`` fixture.

pyvista renders off-screen through VTK's EGL (or OSMesa, or an X server such as Xvfb when
``DISPLAY`` is set).  Whether that works is probed once, in a subprocess (a missing OpenGL
library can crash VTK): without it the rendering tests skip on a developer machine and FAIL when
``CI`` is set, so CI cannot pass without having rendered anything.
"""

from __future__ import annotations

import pytest

from tests.viz._images import require_rendering


@pytest.fixture
def rendering():
    """Skip (locally) or fail (CI) unless pyvista can render off-screen here."""
    require_rendering()
    return True


@pytest.fixture
def sphere():
    """A small mesh for the file readers: icosphere 1, 42 vertices and 80 faces (nV != nF)."""
    from manifold_nets import Mesh
    from manifold_nets.shapes import icosphere

    return Mesh(*icosphere(1))
