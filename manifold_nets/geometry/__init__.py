"""Geometry layer: numpy + scipy only (never torch).

Operators (issue 3), geodesics, frames, connection, log maps and patches (issue 4); every
function takes plain arrays ``V (nV, 3) float64``, ``F (nF, 3) int64`` and returns numpy arrays or
scipy sparse matrices.
"""

from .cache import ArrayCache, CacheWarning, algorithm_version, backend_versions, cache_key
from .curvature import (
    angle_defect,
    gaussian_curvature,
    mean_curvature,
    principal_curvatures,
)
from .descriptors import hks, hks_times, positive_eigenvalues, spectral_range, wks, wks_energies
from .differential import (
    divergence,
    face_areas,
    face_gradient,
    vertex_gradient,
    vertex_gradient_xy,
)
from .frames import (
    change_gauge,
    halfedge_angles,
    halfedge_angles_from_lengths,
    random_gauge,
    rotate_frames,
    tangent_frames,
    tangent_to_world,
    vertex_normals,
    world_to_tangent,
)
from .geodesics import (
    HeatGeodesicSolver,
    distance_matrix,
    exact_geodesic_distance,
    geodesic_distance,
    graph_distance,
)
from .hierarchy import (
    MeshLevel,
    canonical_mesh_order,
    level_transport,
    mesh_hierarchy,
    pool_unpool_maps,
)
from .intrinsic_delaunay import IntrinsicTriangulation, intrinsic_delaunay
from .laplacian import (
    cotan_laplacian,
    cotan_laplacian_from_lengths,
    edge_lengths,
    graph_laplacian,
    point_cloud_laplacian,
    robust_laplacian,
)
from .logmap import VectorHeatSolver, log_map, parallel_transport
from .mass import mass_matrix, mass_matrix_from_lengths, vertex_areas
from .normalize import Normalization, normalize_for_learning, robust_edge_length, total_area
from .operators import (
    OperatorBundle,
    choose_laplacian,
    load_operators,
    operators,
    operators_cache_key,
    save_operators,
)
from .patches import Patches, geodesic_patches
from .quality import TriangleQuality, laplacian_choice, triangle_quality
from .spectral import active_vertices, eigenbasis, fix_eigenvector_signs, sparse_cholesky
from .transport import (
    connection_laplacian,
    connection_laplacian_from_lengths,
    face_angle_excess,
    face_holonomy,
    holonomy,
    transport_angles,
    transport_angles_from_lengths,
    transport_vector,
)

__all__ = [
    "IntrinsicTriangulation",
    "TriangleQuality",
    "intrinsic_delaunay",
    "laplacian_choice",
    "triangle_quality",
    "MeshLevel",
    "canonical_mesh_order",
    "level_transport",
    "mesh_hierarchy",
    "pool_unpool_maps",
    "ArrayCache",
    "CacheWarning",
    "Normalization",
    "algorithm_version",
    "backend_versions",
    "cache_key",
    "normalize_for_learning",
    "positive_eigenvalues",
    "robust_edge_length",
    "spectral_range",
    "total_area",
    "choose_laplacian",
    "HeatGeodesicSolver",
    "OperatorBundle",
    "Patches",
    "VectorHeatSolver",
    "active_vertices",
    "angle_defect",
    "change_gauge",
    "connection_laplacian",
    "connection_laplacian_from_lengths",
    "cotan_laplacian",
    "cotan_laplacian_from_lengths",
    "distance_matrix",
    "divergence",
    "edge_lengths",
    "eigenbasis",
    "exact_geodesic_distance",
    "face_angle_excess",
    "face_areas",
    "face_gradient",
    "face_holonomy",
    "fix_eigenvector_signs",
    "gaussian_curvature",
    "geodesic_distance",
    "geodesic_patches",
    "graph_distance",
    "graph_laplacian",
    "halfedge_angles",
    "halfedge_angles_from_lengths",
    "hks",
    "hks_times",
    "holonomy",
    "load_operators",
    "log_map",
    "mass_matrix",
    "mass_matrix_from_lengths",
    "mean_curvature",
    "operators",
    "operators_cache_key",
    "parallel_transport",
    "point_cloud_laplacian",
    "principal_curvatures",
    "random_gauge",
    "robust_laplacian",
    "rotate_frames",
    "save_operators",
    "sparse_cholesky",
    "tangent_frames",
    "tangent_to_world",
    "transport_angles",
    "transport_angles_from_lengths",
    "transport_vector",
    "vertex_areas",
    "vertex_gradient",
    "vertex_gradient_xy",
    "vertex_normals",
    "wks",
    "wks_energies",
    "world_to_tangent",
]
