"""Point the BLAS and LAPACK calls of the ``cholespy`` wheel's CHOLMOD at SciPy's OpenBLAS.

Why: the ``cholespy`` wheel links CHOLMOD against the *reference* (netlib) BLAS it bundles, and
CHOLMOD's supernodal factorisation spends nearly all its time in ``dgemm``/``dsyrk``/``dpotrf``/
``dtrsm`` on dense blocks.  With the reference BLAS one numeric factorisation of the Laplacian of a
300k-vertex sphere takes 3.3 s; with an optimised BLAS (same single thread) 1.5 s, and the gap
grows with the mesh (larger supernodes).  No maintained package ships CHOLMOD with an optimised
BLAS for every platform the project supports, and SciPy already carries OpenBLAS in every
process that imports it, so this module makes the CHOLMOD that is already loaded call that one.

How: the core library of ``cholespy`` imports ``dgemm_`` and its siblings through its global
offset table (GOT).  :func:`route` reads the library's ELF file for the GOT slots of those
symbols, checks that each slot currently holds what it must (the symbol of the bundled BLAS, or a
not yet resolved stub of the library itself; anything else aborts before any write), and writes
into them the function pointers SciPy publishes for compiled code
(``scipy.linalg.cython_blas`` / ``cython_lapack``, whose arguments are the Fortran ones:
pointers, no hidden lengths needed).  The caller (:mod:`._solve`) checks the result against the
reference BLAS on a real and a complex factorisation and restores the old pointers when they
differ (:func:`restore`).

Only on Linux (ELF) on x86-64 and AArch64; anywhere else, or when anything does not read back as
expected, nothing is changed.  ``MANIFOLD_NETS_CHOLMOD_BLAS=reference`` turns it off.  Threads
follow SciPy's OpenBLAS (``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``, ``threadpoolctl``).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import struct
import sys

import numpy as np

#: GOT symbol of the library → (SciPy module, function) that replaces it.
SYMBOLS = {
    "dgemm_": ("cython_blas", "dgemm"), "dsyrk_": ("cython_blas", "dsyrk"),
    "dtrsm_": ("cython_blas", "dtrsm"), "dgemv_": ("cython_blas", "dgemv"),
    "dtrsv_": ("cython_blas", "dtrsv"), "dpotrf_": ("cython_lapack", "dpotrf"),
    "zgemm_": ("cython_blas", "zgemm"), "zherk_": ("cython_blas", "zherk"),
    "ztrsm_": ("cython_blas", "ztrsm"), "zgemv_": ("cython_blas", "zgemv"),
    "ztrsv_": ("cython_blas", "ztrsv"), "zpotrf_": ("cython_lapack", "zpotrf"),
}
#: Relocation types of GOT entries: (GLOB_DAT, JUMP_SLOT) per machine.
_RELOC = {"x86_64": (6, 7), "aarch64": (1025, 1026)}
_PT_GNU_RELRO = 0x6474E552
_SHT_RELA, _SHT_DYNSYM = 4, 11


def enabled() -> bool:
    """Whether routing may be tried here (platform and ``MANIFOLD_NETS_CHOLMOD_BLAS``)."""
    return (os.environ.get("MANIFOLD_NETS_CHOLMOD_BLAS", "scipy").lower() != "reference"
            and sys.platform.startswith("linux") and platform.machine() in _RELOC)


def got_slots(path: str) -> tuple[dict[str, list[int]], list[tuple[int, int]]]:
    """``({symbol: [GOT slot offsets]}, [(start, end) of RELRO])`` of an ELF64 little-endian
    shared library, for the names in :data:`SYMBOLS` (offsets relative to the load base)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not an ELF64 little-endian file")
    glob_dat, jump_slot = _RELOC[platform.machine()]
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    relro = []
    for i in range(phnum):
        p_type, _flags, _off, p_vaddr, _paddr, _filesz, p_memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == _PT_GNU_RELRO:
            relro.append((p_vaddr, p_vaddr + p_memsz))
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    slots: dict[str, list[int]] = {}
    for sh in sections:
        if sh[1] != _SHT_RELA or sh[6] >= len(sections) or sections[sh[6]][1] != _SHT_DYNSYM:
            continue
        dynsym = sections[sh[6]]
        strtab = sections[dynsym[6]]
        rela = np.frombuffer(data, dtype="<u8", count=3 * (sh[5] // 24), offset=sh[4]).reshape(-1, 3)
        kind = rela[:, 1] & 0xFFFFFFFF
        for r_offset, r_info in rela[(kind == glob_dat) | (kind == jump_slot), :2].tolist():
            st_name = struct.unpack_from("<I", data, dynsym[4] + 24 * (r_info >> 32))[0]
            end = data.index(b"\0", strtab[4] + st_name)
            name = data[strtab[4] + st_name : end].decode("ascii", "replace")
            if name in SYMBOLS:
                slots.setdefault(name, []).append(r_offset)
    return slots, relro


class _LinkMap(ctypes.Structure):
    _fields_ = [("l_addr", ctypes.c_size_t), ("l_name", ctypes.c_char_p)]


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    for name in ("dlinfo", "dladdr"):
        if not hasattr(libc, name):  # glibc < 2.34 keeps them in libdl
            libc = ctypes.CDLL("libdl.so.2", use_errno=True)
            break
    return libc


def _scipy_pointer(module: str, func: str) -> int:
    import importlib

    capsule = importlib.import_module(f"scipy.linalg.{module}").__pyx_capi__[func]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    ptr = get_ptr(capsule, get_name(capsule))
    if not ptr:
        raise ValueError(f"scipy.linalg.{module}.{func}: no function pointer")
    return int(ptr)


def _write(addr: int, value: int, relro: bool, libc) -> None:
    page = addr & ~(mmap.PAGESIZE - 1)
    mprotect = libc.mprotect
    mprotect.restype, mprotect.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if mprotect(page, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_WRITE) != 0:
        raise OSError(ctypes.get_errno(), "mprotect")
    ctypes.c_void_p.from_address(addr).value = value
    if relro:
        mprotect(page, mmap.PAGESIZE, mmap.PROT_READ)


def route(lib: ctypes.CDLL, path: str) -> list[tuple[int, int, bool]] | None:
    """Write SciPy's BLAS/LAPACK pointers into the GOT of ``lib`` (loaded from ``path``).

    Returns ``[(slot address, old value, in RELRO)]`` for :func:`restore`, or None when nothing
    was changed (not supported here, a symbol or slot not as expected).
    """
    if not enabled():
        return None
    slots, relro = got_slots(path)
    if set(slots) != set(SYMBOLS):
        return None
    libc = _libc()
    dlinfo, dladdr = libc.dlinfo, libc.dladdr
    dlinfo.restype, dlinfo.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    dladdr.restype, dladdr.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    lm = ctypes.POINTER(_LinkMap)()
    if dlinfo(lib._handle, 2, ctypes.byref(lm)) != 0 or not lm:  # RTLD_DI_LINKMAP
        return None
    base = int(lm.contents.l_addr)
    plan = []
    for name, offsets in slots.items():
        new = _scipy_pointer(*SYMBOLS[name])
        for off in offsets:
            addr = base + off
            old = ctypes.c_void_p.from_address(addr).value or 0
            info = _DlInfo()
            if not old or not dladdr(old, ctypes.byref(info)):
                return None
            resolved = info.dli_sname is not None and info.dli_sname.decode() == name
            stub = info.dli_fbase is not None and int(info.dli_fbase) == base  # lazy PLT stub
            if not (resolved or stub):
                return None  # the slot is not what the file says: change nothing
            plan.append((addr, old, new, any(a <= off < b for a, b in relro)))
    done = []
    try:
        for addr, old, new, in_relro in plan:
            _write(addr, new, in_relro, libc)
            done.append((addr, old, in_relro))
    except OSError:
        restore(done)
        return None
    return done


def restore(done) -> None:
    """Put back the pointers :func:`route` replaced."""
    if not done:
        return
    libc = _libc()
    for addr, old, in_relro in done:
        _write(addr, old, in_relro, libc)
