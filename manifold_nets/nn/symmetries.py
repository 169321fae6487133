r"""The symmetries each convolution family guarantees, as a table the tests are driven by.

A mesh file fixes many things that carry no geometric meaning: the numbering of the vertices,
the order of the faces, which corner of each face comes first, where the surface sits and how it
is turned in space, its unit of length, and (through the face and corner order) the reference
direction — the *gauge* — of every vertex's tangent frame.  A model whose output depends on one
of these learns the file, not the shape.  :data:`FAMILY_SYMMETRIES` states, for each family of
:data:`manifold_nets.nn.FAMILIES` with its default options, how its output behaves under each
transformation:

==========================  ================================================================
``vertex_renumbering``      ``V' = V[perm]``, faces relabelled: per-vertex outputs are permuted
                            the same way (*equivariant*), per-face and per-mesh outputs unchanged.
``face_reordering``         faces listed in another order: per-vertex / per-mesh outputs
                            unchanged, per-face outputs permuted (*invariant* up to that).
``corner_rotation``         each face's corners cyclically rotated (orientation kept).
``rigid_motion``            rotation + translation of the mesh, with intrinsic inputs (HKS, WKS,
                            or any per-vertex values that move with the vertices).
``uniform_scale``           ``V ← s V`` (tested for ``s = 10⁻³`` and ``10³``), with scale-free
                            inputs (HKS as returned by :func:`~manifold_nets.nn.input_features`):
                            every layer measures its diffusion times, spectral filters, patch radii
                            and gradient features relative to the mesh, so no normalisation is
                            needed for this.
``gauge``                   every vertex frame rotated by its own arbitrary angle
                            (:meth:`MeshBatch.gauge_changed`): scalar outputs unchanged.
==========================  ================================================================

Each entry is a :class:`Claim`: ``kind`` (``"invariant"`` or ``"equivariant"``) and ``exact``
(``True``: the identity holds in exact arithmetic — with the operators of the transformed mesh
recomputed from scratch the tests allow the eigen-solver accuracy, ``1e-6`` relative in float64,
and ``1e-10`` where nothing is recomputed, as in the gauge test; ``False``: it holds only
approximately, with the error stated in ``note``).

Options that give up a guarantee are listed in :data:`GAUGE_DEPENDENT_OPTIONS`: they are never
the default and must be asked for explicitly.

>>> FAMILY_SYMMETRIES["gcnn"]["gauge"]
Claim(kind='invariant', exact=True, note='angular Fourier magnitudes (GCNNConv angular="fourier")')
>>> claims_of("gem")["gauge"].exact
True
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import MeshShapeError

__all__ = ["SYMMETRIES", "Claim", "FAMILY_SYMMETRIES", "GAUGE_DEPENDENT_OPTIONS", "MULTISCALE_CLAIMS", "claims_of",
           "symmetry_table"]

#: The transformations, in the order of the table.
SYMMETRIES = ("vertex_renumbering", "face_reordering", "corner_rotation", "rigid_motion", "uniform_scale", "gauge")


class Claim(NamedTuple):
    """What a family guarantees under one transformation."""

    kind: str  # "invariant" or "equivariant"
    exact: bool
    note: str = ""


def _common(gauge: Claim, *, face_note: str = "") -> dict:
    return {
        "vertex_renumbering": Claim("equivariant", True, "per-vertex outputs follow the vertices"),
        "face_reordering": Claim("invariant", True, face_note),
        "corner_rotation": Claim("invariant", True, face_note),
        "rigid_motion": Claim("invariant", True, "with intrinsic inputs"),
        "uniform_scale": Claim("invariant", True, "times / filters / radii relative to the mesh"),
        "gauge": gauge,
    }


_PRINCIPAL = ("orientation from the principal curvature line field; the kernels are π-periodic in θ so its "
              "mod-π sign does not matter")

#: ``family -> {symmetry -> Claim}`` for the default options of every family.
FAMILY_SYMMETRIES: dict = {
    "diffusion": _common(Claim("invariant", True, "scalar features; gradient features are inner products")),
    "spectral": _common(Claim("invariant", True, "uses no tangent frame")),
    "cheb": _common(Claim("invariant", True, "uses no tangent frame")),
    "gcnn": _common(Claim("invariant", True, 'angular Fourier magnitudes (GCNNConv angular="fourier")')),
    "acnn": _common(Claim("invariant", True, _PRINCIPAL), face_note=_PRINCIPAL),
    "monet": _common(Claim("invariant", True, 'angular Fourier magnitudes (MoNetConv angular="fourier")')),
    "gem": _common(Claim("invariant", True, "irreps features, NormNonlinearity (the default nonlinearity)")),
}

#: Non-default options and the guarantee they give up (``family -> [(option, consequence)]``).
GAUGE_DEPENDENT_OPTIONS: dict = {
    "gcnn": [('angular="bins"', "gauge (and so face / corner order): exact only for rotations of the patch "
              "origin by multiples of 2π / n_theta, or tied to an explicit orientation")],
    "monet": [('angular="von_mises"', "gauge (and so face / corner order): θ measured from the frame's x axis "
               "or an explicit orientation")],
    "gem": [('nonlinearity="regular"', "gauge exactness: exact for rotations by multiples of 2π / n_samples, "
             "approximate otherwise (error shrinks as n_samples grows)")],
}


#: What changes for every family with the U-Net option (``levels > 0``, batches built with
#: ``MeshBatch.from_meshes(..., levels=L)``).  The hierarchy decimates the normalised mesh after
#: putting it in a canonical order computed from the vertex *positions*
#: (:func:`manifold_nets.geometry.mesh_hierarchy`): the coarse levels are identical for any vertex
#: numbering, face order and corner rotation (so those claims stay exact — except for vertices at
#: identical positions, ordered by index), and for any translation or uniform scale (removed by
#: the normalisation).  A rotation in space changes the canonical order and so the decimation: the
#: rotated mesh gets another, equally valid hierarchy.  Gauge: the pooling maps carry irreps
#: features between the levels' gauges (exact for any gauge change of every level).
MULTISCALE_CLAIMS: dict = {
    "rigid_motion": Claim("invariant", False, "translations exact; a rotation changes the canonical vertex order "
                          "(by position) the decimation starts from, so the coarse levels differ: approximate"),
}


def claims_of(family: str, levels: int = 0) -> dict:
    """The claims of ``family`` (``{symmetry: Claim}``); ``levels > 0``: with the U-Net option."""
    if family not in FAMILY_SYMMETRIES:
        raise MeshShapeError(f"family: expected one of {tuple(FAMILY_SYMMETRIES)} (got {family!r})")
    out = dict(FAMILY_SYMMETRIES[family])
    if levels:
        out.update(MULTISCALE_CLAIMS)
    return out


def symmetry_table() -> str:
    """The table as Markdown (one row per family, one column per symmetry)."""
    head = "| family | " + " | ".join(SYMMETRIES) + " |"
    rows = [head, "|" + "---|" * (len(SYMMETRIES) + 1)]
    for fam, claims in FAMILY_SYMMETRIES.items():
        cells = [f"{c.kind}{'' if c.exact else ' (approx.)'}" for c in (claims[s] for s in SYMMETRIES)]
        rows.append(f"| {fam} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
