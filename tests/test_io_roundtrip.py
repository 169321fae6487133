"""Property-based round trips: random meshes with random vertex and face arrays, written in every
format and read back, are either identical (names, dtypes, shapes, values) or refused at write
time with an UnsupportedDataError naming the array, and then nothing is written."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from manifold_nets import read_mesh, write_mesh
from manifold_nets.errors import NonFiniteError, UnknownFormatError, UnsupportedDataError
from manifold_nets.validation import MAX_ABS_COORDINATE, MIN_EXTENT

SAFE_NAMES = ["label", "w", "rgb", "color", "uv", "q"]  # valid PLY names that cannot clash
ODD_NAMES = ["x", "vertex_indices", "label_0", "bad name", "1st", "é"]
DTYPES = [np.float64, np.float32, np.float16, np.int64, np.uint64, np.int32, np.uint32, np.int16,
          np.int8, np.uint8, np.bool_]
TAILS = [(), (2,), (3,), (4,), (3, 2)]
FORMATS = ["obj", "off", "ply", "ply-ascii", "stl"]


@st.composite
def arrays_for(draw, n: int, names: list[str]):
    out = {}
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        dtype = np.dtype(draw(st.sampled_from(DTYPES)))
        tail = draw(st.sampled_from(TAILS))
        if draw(st.booleans()) and dtype.kind == "f":
            dtype = np.dtype(np.float64)  # make the colours OBJ and OFF hold more likely
        out[name] = draw(hnp.arrays(dtype, (n,) + tail))
    return out


@st.composite
def meshes(draw):
    nV = draw(st.integers(3, 10))
    nF = draw(st.integers(1, 8))
    V = draw(hnp.arrays(np.float64, (nV, 3), elements=st.floats(allow_nan=False, allow_infinity=False)))
    F = draw(hnp.arrays(np.int64, (nF, 3), elements=st.integers(0, nV - 1)))
    unit = st.floats(0, 1)
    if draw(st.booleans()):  # only what OBJ / OFF hold: colours (and uv below)
        vd, fd = {}, {}
        if draw(st.booleans()):
            fd["color"] = draw(hnp.arrays(np.float64, (nF, draw(st.sampled_from([3, 4]))), elements=unit))
        if draw(st.booleans()):
            vd["color"] = draw(hnp.arrays(np.float64, (nV, draw(st.sampled_from([3, 4]))), elements=unit))
        return V, F, vd, fd
    pool = SAFE_NAMES + (ODD_NAMES if draw(st.booleans()) else [])
    vd = draw(arrays_for(nV, pool))
    fd = draw(arrays_for(nF, pool))
    if draw(st.booleans()):  # a colour OBJ / OFF can hold
        vd["color"] = draw(hnp.arrays(np.float64, (nV, 3), elements=st.floats(0, 1)))
    if draw(st.booleans()):  # per-corner texture coordinates (OBJ vt)
        fd["uv"] = draw(hnp.arrays(np.float64, (nF, 3, 2), elements=st.floats(-2, 2)))
    return V, F, vd, fd


def _finite(a) -> bool:
    return a.dtype.kind != "f" or bool(np.isfinite(a).all())


def _must_hold(fmt: str, vd: dict, fd: dict) -> bool:
    """Whether the format is documented to hold all these arrays (so refusing would be a bug)."""
    if fmt == "stl":
        return False
    if fmt.startswith("ply"):
        ok = all(k in SAFE_NAMES for k in list(vd) + list(fd))
        big = any(a.dtype.kind in "iu" and a.dtype.itemsize == 8 and a.size
                  and (int(a.max()) > 2**53 or int(a.min()) < -(2**53))
                  for a in list(vd.values()) + list(fd.values()))
        return ok and not big
    if fmt == "obj":
        v_ok = all(k == "color" and a.dtype == np.float64 and a.shape[1:] == (3,) and _finite(a)
                   for k, a in vd.items())
        f_ok = all(k == "uv" and a.dtype == np.float64 and a.shape[1:] in ((3, 2), (3, 3)) and _finite(a)
                   for k, a in fd.items())
        return v_ok and f_ok
    return all(k == "color" and a.dtype == np.float64 and a.ndim == 2 and a.shape[1] in (3, 4) and _finite(a)
               for d in (vd, fd) for k, a in d.items())


def _check(fmt: str, V, F, vd, fd):
    ext = {"ply-ascii": "ply"}.get(fmt, fmt)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m.{ext}"
        try:
            write_mesh(path, V, F, vertex_data=vd, face_data=fd, binary=(fmt != "ply-ascii"))
        except NonFiniteError as exc:  # coordinates whose areas over- or underflow: refused everywhere
            with np.errstate(over="ignore"):
                extent = float((V.max(0) - V.min(0)).max())
            assert (np.abs(V).max() > MAX_ABS_COORDINATE and "expected coordinates of magnitude" in str(exc)) or (
                0 < extent < MIN_EXTENT and "expected vertices spread over" in str(exc)), str(exc)
            assert list(Path(tmp).iterdir()) == []
            return
        except (UnsupportedDataError, UnknownFormatError) as exc:
            msg = str(exc)
            assert "\n" not in msg and "expected" in msg and str(path) in msg
            assert not _must_hold(fmt, vd, fd), f"{fmt} refused data it documents it holds: {msg}"
            if isinstance(exc, UnsupportedDataError):
                names = re.findall(r"\[(?:'([^']*)'|\"([^\"]*)\")\]|got '([^']*)'|got \"([^\"]*)\"", msg)
                named = {x for t in names for x in t if x}
                assert named & (set(vd) | set(fd)) or "names" in msg, msg  # names the array
            assert not path.exists() and list(Path(tmp).iterdir()) == []  # nothing written
            return
        assert fmt != "stl"
        m = read_mesh(path)
        np.testing.assert_array_equal(m.V, V)
        np.testing.assert_array_equal(m.F, F)
        extra_ok = {"uv_index"} if fmt == "obj" and "uv" in fd else set()
        assert set(m.vertex_data) == set(vd)
        assert set(m.face_data) - extra_ok == set(fd)
        for given_, back in ((vd, m.vertex_data), (fd, m.face_data)):
            for k, a in given_.items():
                b = back[k]
                assert b.dtype == a.dtype and b.shape == a.shape, (fmt, k, a.dtype, b.dtype, a.shape, b.shape)
                np.testing.assert_array_equal(b, a, err_msg=f"{fmt} {k}")


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mesh=meshes())
def test_random_meshes_round_trip_or_are_refused(fmt, mesh):
    V, F, vd, fd = mesh
    _check(fmt, V, F, vd, fd)


@pytest.mark.parametrize("fmt", ["ply", "ply-ascii"])
def test_ply_holds_every_documented_dtype_and_shape(fmt):
    """A deterministic companion: one array of every dtype and shape PLY documents."""
    rng = np.random.default_rng(0)
    V = rng.normal(size=(5, 3))
    F = np.array([[0, 1, 2], [2, 3, 4]])
    vd = {}
    for i, dt in enumerate(DTYPES):
        for j, tail in enumerate(TAILS):
            a = (rng.normal(size=(5,) + tail) * 100)
            vd[f"a{i}_{j}".replace("_", "t")] = a.astype(dt) if dt != np.bool_ else a > 0
    vd["big"] = np.array([2**53, -(2**53), 0, 1, 2**40], np.int64)
    fd = {"uv": rng.random((2, 3, 2)), "part": np.array([1, 2], np.uint8)}
    _check(fmt, V, F, vd, fd)
