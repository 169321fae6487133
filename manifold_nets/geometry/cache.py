"""A content-addressed disk cache of named arrays, for everything a mesh needs for learning.

An entry is one file ``<folder>/<key[:40]>.mnc`` holding plain arrays (sparse matrices are stored
as their csr parts by the caller) after a JSON header with the full key, the parameters, the
format number and a CRC-32 of the array bytes (see :class:`ArrayCache`).  The key (:func:`cache_key`) is a
SHA-256 of

* the bytes, shapes and dtypes of the mesh arrays ``(V, F)``;
* the parameters (JSON, sorted keys);
* the **algorithm version** (:func:`algorithm_version`): a SHA-256 of the source text of every
  module that computes a cached quantity (``manifold_nets/geometry/*.py``,
  ``manifold_nets/nn/batch.py``, ``conventions.py``, ``validation.py``, and the readers ``io.py``
  and ``mesh.py``, since file entries are keyed by the file's bytes).  Any edit of those
  files — a bug fix in a kernel — changes it, so old entries are never reused after an
  algorithm change; nobody has to remember to bump a number;
* the versions of the numerical backends (:func:`backend_versions`: numpy, scipy,
  potpourri3d, robust_laplacian, igl, cholespy; ``None`` when not installed).

Entries are written atomically (:func:`manifold_nets.files.atomic_write`), so parallel workers
never see a partial file.  An entry that cannot be read, fails its checksum or carries another
key or format is reported with :func:`warnings.warn` (:class:`CacheWarning`) and recomputed by
the caller — never trusted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from ..files import atomic_write

__all__ = ["CacheWarning", "algorithm_version", "backend_versions", "cache_key", "ArrayCache"]

#: Bump when the on-disk layout of an entry changes.
CACHE_FORMAT = 2

_BACKENDS = {  # import name -> distribution name
    "numpy": "numpy", "scipy": "scipy", "potpourri3d": "potpourri3d", "robust_laplacian": "robust_laplacian",
    "igl": "libigl", "cholespy": "cholespy",
}


class CacheWarning(UserWarning):
    """A cache entry was unusable (corrupt, truncated, stale) and is being recomputed."""


@lru_cache(maxsize=1)
def algorithm_version() -> str:
    """SHA-256 (hex, 16 characters) of the source of every module that computes cached data.

    The modules are ``manifold_nets/geometry/*.py``, ``manifold_nets/nn/batch.py``,
    ``manifold_nets/conventions.py``, ``manifold_nets/validation.py``, ``manifold_nets/io.py`` and
    ``manifold_nets/mesh.py`` (read as bytes, in sorted order).  Computed once per process.
    """
    root = Path(__file__).resolve().parent.parent
    files = sorted(root.joinpath("geometry").glob("*.py"))
    files += [root / "nn" / "batch.py", root / "conventions.py", root / "validation.py", root / "io.py",
              root / "mesh.py"]
    h = hashlib.sha256()
    for f in files:
        if f.exists():
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _backend_versions() -> tuple:
    out = []
    for mod, dist in sorted(_BACKENDS.items()):
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v = None
        out.append((mod, v))
    return tuple(out)


def backend_versions() -> dict:
    """Installed versions of the numerical backends (``None`` where one is missing)."""
    return dict(_backend_versions())


def _contiguous(a) -> np.ndarray:
    """C-contiguous without changing the shape (``np.ascontiguousarray`` makes 0-d arrays 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _hash_array(h, a) -> None:
    a = _contiguous(a)
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())


def cache_key(kind: str, arrays, params: dict) -> str:
    """SHA-256 hex key of ``arrays`` (e.g. ``(V, F)``), ``params`` (JSON-able), the algorithm
    version, the backend versions and the library version, for entries of ``kind``."""
    from .. import __version__

    h = hashlib.sha256()
    head = {"kind": kind, "format": CACHE_FORMAT, "library": __version__, "algorithm": algorithm_version(),
            "backends": backend_versions(), "params": params}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for a in arrays:
        _hash_array(h, a)
    return h.hexdigest()


_MAGIC = b"MNCACHE\x00"
_ALIGN = 64


class _Unusable(Exception):
    pass


class ArrayCache:
    """A folder of cache entries (created on the first write).

    An entry ``<key[:40]>.mnc`` is ``MAGIC (8 bytes) | header length (8 bytes, little endian) |
    JSON header | arrays``; the header holds the format, the full key, the caller's metadata,
    every array's name, dtype, shape and offset, and a CRC-32 of the array bytes (reading and
    checking 50 MiB takes a few tens of milliseconds, which is what makes a hit ~20x cheaper than
    recomputing; a CRC detects accidental corruption, which is all a local cache needs).

    >>> import tempfile
    >>> c = ArrayCache(tempfile.mkdtemp())
    >>> key = cache_key("demo", [np.arange(3)], {"k": 1})
    >>> c.get(key) is None
    True
    >>> _ = c.put(key, {"x": np.arange(3.0)}, meta={"k": 1})
    >>> c.get(key)[0]["x"].tolist()
    [0.0, 1.0, 2.0]
    """

    suffix = ".mnc"

    def __init__(self, folder):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.folder / f"{key[:40]}{self.suffix}"

    def get(self, key: str):
        """``(arrays, meta)`` of a valid entry, or ``None`` (missing, or unusable: warned)."""
        p = self.path(key)
        if not p.exists():
            self.misses += 1
            return None
        try:
            out = self._read(p, key)
        except _Unusable as exc:
            warnings.warn(f"cache entry {p} is unusable ({exc}); recomputing it", CacheWarning, stacklevel=3)
            self.misses += 1
            return None
        self.hits += 1
        return out

    @staticmethod
    def _read(p: Path, key: str):
        try:
            with open(p, "rb") as fh:
                size = p.stat().st_size
                buf = bytearray(size)
                if fh.readinto(buf) != size:
                    raise _Unusable("short read")
        except OSError as exc:
            raise _Unusable(f"unreadable file: {exc}") from exc
        if size < 16 or bytes(buf[:8]) != _MAGIC:
            raise _Unusable("not a cache entry")
        n = int.from_bytes(buf[8:16], "little")
        if 16 + n > size:
            raise _Unusable("truncated header")
        try:
            head = json.loads(bytes(buf[16:16 + n]).decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Unusable("unreadable header") from exc
        if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT:
            raise _Unusable(f"format {head.get('format') if isinstance(head, dict) else '?'} instead of {CACHE_FORMAT}")
        if head.get("key") != key:
            raise _Unusable("stale entry: its key does not match")
        start = head.get("data_start", -1)
        if not isinstance(start, int) or start < 16 + n or start + head.get("data_bytes", -1) != size:
            raise _Unusable("truncated data")
        mv = memoryview(buf)
        if zlib.crc32(mv[start:]) != head.get("crc32"):
            raise _Unusable("checksum mismatch")
        arrays = {}
        try:
            for name, dtype, shape, off, nbytes in head["arrays"]:
                dt = np.dtype(dtype)
                if dt.hasobject:
                    raise _Unusable("object arrays")
                a = np.frombuffer(mv, dtype=dt, count=nbytes // dt.itemsize if dt.itemsize else 0,
                                  offset=start + off)
                arrays[name] = a.reshape(shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise _Unusable(f"inconsistent array table: {exc}") from exc
        return arrays, head.get("meta", {})

    def put(self, key: str, arrays: dict, *, meta: dict | None = None) -> Path | None:
        """Write an entry atomically; returns its path (``None`` and a warning if it could not be written)."""
        table, chunks, off = [], [], 0
        for name, a in arrays.items():
            a = _contiguous(a)
            if a.dtype.hasobject:
                raise TypeError(f"{name}: expected a numeric array (got dtype {a.dtype})")
            pad = (-off) % _ALIGN
            if pad:
                chunks.append(b"\x00" * pad)
                off += pad
            table.append([name, a.dtype.str, list(a.shape), off, a.nbytes])
            chunks.append(a.tobytes())
            off += a.nbytes
        payload = b"".join(chunks)
        head = {"format": CACHE_FORMAT, "key": key, "meta": meta or {}, "arrays": table,
                "crc32": zlib.crc32(payload), "data_bytes": len(payload), "data_start": 0}
        # the header length depends on data_start: fix it with a padded header
        text = json.dumps(head, sort_keys=True, default=str).encode()
        n = len(text) + 32
        n += (-(16 + n)) % _ALIGN
        head["data_start"] = 16 + n
        text = json.dumps(head, sort_keys=True, default=str).encode()
        text += b" " * (n - len(text))
        blob = _MAGIC + n.to_bytes(8, "little") + text + payload
        p = self.path(key)
        try:
            return atomic_write(p, blob, fsync=False)
        except OSError as exc:
            warnings.warn(f"could not write cache entry {p} ({exc})", CacheWarning, stacklevel=2)
            return None
