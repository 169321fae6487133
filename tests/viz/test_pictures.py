"""``docs/make_pictures.py`` (the README pictures) still runs and makes the pictures it promises."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.viz._images import foreground, read_png

SCRIPT = REPO / "docs" / "make_pictures.py"


def _run(tmp_path, *names):
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), *names],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_frames_picture(tmp_path, rendering):
    _run(tmp_path, "frames")
    img = read_png(tmp_path / "frames.png")
    assert img.shape == (300, 400, 3)
    red = (img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert 0.1 < foreground(img).mean() < 0.9 and red.sum() > 100


@pytest.mark.slow  # ~6 s: generates a synthetic figure; kept out of the default run (viz budget)
def test_labels_picture_from_the_synthetic_set(tmp_path, rendering):
    pytest.importorskip("skimage")
    from manifold_nets.viz import label_colors
    from tests.viz._images import colour_present

    _run(tmp_path, "labels")
    img = read_png(tmp_path / "labels.png")
    # the legend shows the six parts of a synthetic figure in their exact colours
    assert all(colour_present(img, c, min_pixels=4) for c in label_colors(6))


def test_unknown_picture_name(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "nonsense"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown picture 'nonsense'" in r.stderr
