"""The conventions of manifold_nets, written down once.  Each claim here is tested.

Arrays
    ``V`` is ``(nV, 3) float64``, ``F`` is ``(nF, 3) int64`` (0-based, counter-clockwise seen
    from outside gives the outward normal).  Sparse operators are ``scipy.sparse`` CSR matrices
    in float64 (complex128 for operators on tangent vectors).  Torch tensors appear only in
    :mod:`manifold_nets.nn`.  Nothing ever merges, drops or reorders vertices or faces unless a
    function of :mod:`manifold_nets.repair` is called, and those return index maps.

Laplacian sign
    Every Laplacian ``L`` is the **positive semidefinite weak form**: ``L ≈ M (−Δ)``.  For the
    cotan Laplacian ``L[i, j] = −(cot α_ij + cot β_ij) / 2`` for an edge ``ij`` and
    ``L[i, i] = −Σ_j L[i, j]``, so ``L @ 1 = 0`` and ``xᵀ L x ≥ 0``.  Pointwise values go in,
    integrated values come out: the pointwise Laplacian of ``u`` is ``M⁻¹ L u`` (a *positive*
    multiple of ``−Δu``; on the unit sphere its eigenvalues tend to ``l (l + 1)``).  The cotan
    ``L`` is PSD on *every* mesh, obtuse and sliver triangles included (it is a sum of per-face
    PSD stiffness matrices; only its off-diagonal signs need a Delaunay mesh), and the sliver
    guard ``clamp_cot`` keeps it so: it scales a face's three cotangents together.

Degenerate faces (one triangle kernel)
    Every corner cotangent and corner angle in :mod:`manifold_nets.geometry` comes from one
    kernel (``geometry._common.FaceGeometry``), so the scalar and connection Laplacians, the
    gradient, the Voronoi mass, the angle defect, normals and half-edge angles agree on every
    mesh.  A face is **degenerate** when ``area <= 1e-12 · (longest edge)²`` (repeated or
    coincident vertices, collinear vertices, extreme slivers): its cotangents are exactly 0, so
    it contributes nothing to any Laplacian or gradient (:data:`DEGENERATE_FACE_POLICY`).  It
    keeps its true area in mass matrices.  Its angles are still the true ones (``atan2``:
    ``0, 0, π`` for collinear vertices); corners with a zero-length side share what is left of
    ``π`` equally.  Other faces, however thin, use ``cot = (l²_a + l²_b − l²_o) / (4 area)``.

Mass matrix
    The default is the **lumped barycentric** mass: ``M[i, i] = Σ_{faces ∋ i} area / 3``
    (always positive on non-degenerate meshes).  ``"voronoi"`` (mixed Voronoi, Meyer et al.)
    and ``"full"`` (the FEM Galerkin mass) are available on request.

Eigenbasis
    Eigenpairs solve ``L φ = λ M φ`` with ``λ`` ascending and ``Φᵀ M Φ = I``.  The sign of
    every eigenvector is fixed so that its entry of largest magnitude — on a tie, the first
    such entry — is positive (:data:`EIGENVECTOR_SIGN_RULE`).

Tangent frames (the gauge)
    Each vertex ``i`` has a unit normal ``n_i`` (angle-weighted face normals) and a tangent
    basis ``(x_i, y_i)`` with ``y_i = n_i × x_i`` (right-handed).  The gauge rule is intrinsic:
    ``x_i`` points along the **reference half-edge** of ``i``: in the lowest-numbered face
    that contains ``i``, the half-edge from ``i`` to the next vertex of that face (``F[f, (c+1) % 3]``
    when ``F[f, c] == i``), projected to the tangent plane and normalised.

Angles
    The angle of an outgoing half-edge ``i → j`` in ``i``'s gauge is the sum of the corner
    angles at ``i`` swept counter-clockwise (around ``n_i``) from the reference half-edge,
    rescaled by ``2π / Θ_i`` at an interior vertex (``Θ_i`` = sum of the corner angles at
    ``i``) so that a full turn is ``2π``; at a boundary vertex the angles are not rescaled.
    Angles are counter-clockwise about the normal, in radians; interior angles lie in
    ``[0, 2π)``.  At a boundary vertex, half-edges reached clockwise from the reference get
    negative angles: the values are the polar angles of the unrolled fan (not wrapped).  At a
    non-manifold vertex the fans are cut at the bad edges and laid one after another (the
    reference fan first, then by lowest face): deterministic and finite, but without meaning
    across the cuts.  An unreferenced vertex gets the world frame ``(e_z; e_x, e_y)``.

Tangent vectors
    A tangent vector at ``i`` is a **complex number** ``z`` in ``i``'s gauge: its 3D vector is
    ``Re(z) x_i + Im(z) y_i``.  In :mod:`manifold_nets.nn` the same vector is the real pair
    ``(Re z, Im z)`` in a trailing dimension of size 2 (or an order-1 irrep); one converter.

Gauge changes
    Rotating the frame at ``i`` by ``g_i`` (``x_i ← cos g_i x_i + sin g_i y_i``) changes a
    tangent vector's coordinates as ``z_i ← e^{−i g_i} z_i``, an angle ``θ`` measured at
    ``i`` as ``θ ← θ − g_i``, and a transport angle as ``ρ_ij ← ρ_ij − g_i + g_j``.

Transport (discrete Levi-Civita connection)
    For a directed edge ``(i, j)`` the transport angle ``ρ_ij`` carries a tangent vector at
    ``j``, in ``j``'s gauge, to ``i``'s gauge: ``z_i = e^{i ρ_ij} z_j``, with
    ``ρ_ij = φ_ij − φ_ji + π`` where ``φ_ij`` is the angle of half-edge ``i → j`` in ``i``'s
    gauge.  Hence ``ρ_ji = −ρ_ij`` (mod 2π); transport angles are wrapped to ``(−π, π]``.
    The holonomy of a loop ``v_0 → v_1 → … → v_0`` is ``Σ ρ_{v_{k+1} v_k}``; around a
    counter-clockwise loop it equals the enclosed (integrated Gaussian) curvature mod 2π.
"""

from __future__ import annotations

#: Laplacians are positive semidefinite (``L ≈ M(−Δ)``).
LAPLACIAN_SIGN = "positive-semidefinite"

#: Faces with ``area <= DEGENERATE_TOL · longest_edge²`` have cotangents 0 (see module docstring).
DEGENERATE_FACE_POLICY = "relative-area-below-1e-12-contributes-nothing"

#: The relative area threshold of :data:`DEGENERATE_FACE_POLICY`.
DEGENERATE_TOL = 1e-12

#: Default lumped mass matrix.
DEFAULT_MASS = "barycentric"

#: Eigenvector sign: the entry of largest magnitude (first on a tie) is positive.
EIGENVECTOR_SIGN_RULE = "largest-magnitude-entry-positive"

#: Gauge rule for tangent frames (see module docstring).
GAUGE_RULE = "reference-halfedge-of-lowest-face"

#: Angle orientation: counter-clockwise about the vertex normal.
ANGLE_ORIENTATION = "counter-clockwise"

#: Tangent vectors in the geometry layer are complex numbers in the vertex gauge.
TANGENT_VECTOR_TYPE = "complex"

__all__ = [
    "LAPLACIAN_SIGN",
    "DEGENERATE_FACE_POLICY",
    "DEGENERATE_TOL",
    "DEFAULT_MASS",
    "EIGENVECTOR_SIGN_RULE",
    "GAUGE_RULE",
    "ANGLE_ORIENTATION",
    "TANGENT_VECTOR_TYPE",
]
