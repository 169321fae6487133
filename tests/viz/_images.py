"""Pixel checks of rendered PNGs (shared by the viz and CLI view tests)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import on_ci

_PROBE = """
import pyvista as pv
p = pv.Plotter(off_screen=True, window_size=(64, 48))
p.add_mesh(pv.Sphere(), color="red")
img = p.screenshot(None, return_img=True)
assert img.shape[:2] == (48, 64) and img.std() > 1, img.shape
print("ok")
"""

_STATE: dict = {}


def require_rendering() -> None:
    """Skip (locally) or fail (CI) unless pyvista can render off-screen here (probed once)."""
    if "msg" not in _STATE:
        _STATE["msg"] = _probe()
    if _STATE["msg"]:
        if on_ci():
            pytest.fail(_STATE["msg"] + "; CI=true requires it", pytrace=False)
        pytest.skip(_STATE["msg"])


def _probe() -> str:
    """'' when rendering works, else the reason."""
    try:
        import pyvista  # noqa: F401
    except ImportError:
        return "pyvista is not installed (pip install 'manifold-nets[viz]')"
    r = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or "ok" not in r.stdout:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return ("off-screen rendering does not work here (install libegl1 libegl-mesa0 "
                "libgl1-mesa-dri, or run under xvfb-run): " + " | ".join(tail))
    return ""


def read_png(path) -> np.ndarray:
    """``(h, w, 3|4)`` uint8 pixels of a PNG."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def foreground(img: np.ndarray, background=(255, 255, 255), tol: int = 12) -> np.ndarray:
    """``(h, w)`` bool: pixels that differ from the background."""
    return (np.abs(img[..., :3].astype(int) - np.asarray(background)) > tol).any(axis=2)


def colour_present(img: np.ndarray, rgb, tol: int = 3, min_pixels: int = 15) -> bool:
    """Whether at least ``min_pixels`` pixels have the colour ``rgb`` (within ``tol``)."""
    d = np.abs(img[..., :3].astype(int) - np.asarray(rgb, dtype=int)).max(axis=2)
    return int((d <= tol).sum()) >= min_pixels


def runs(mask_1d: np.ndarray, min_len: int = 5) -> list[tuple[int, int]]:
    """Maximal runs of True of at least ``min_len``: ``[(start, stop), ...]``."""
    out, start = [], None
    for i, v in enumerate(list(mask_1d) + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start >= min_len:
                out.append((start, i))
            start = None
    return out
