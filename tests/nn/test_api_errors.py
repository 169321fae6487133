"""Mistakes at the torch API boundary give one-line typed errors, not raw torch errors (issue 13)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from manifold_nets.errors import MeshError, MeshShapeError, MeshTypeError  # noqa: E402
from manifold_nets.nn import FAMILIES, DiffusionNet, FeatureNet, MeshBackbone, SegmentationNet  # noqa: E402


@pytest.mark.parametrize("family", ["diffusion", "gcnn", "gem"])
def test_wrong_inputs_are_named(family, batch32):
    net = SegmentationNet(4, 3, family=family, width=8, n_blocks=1)
    n = batch32.num_vertices
    with pytest.raises(MeshError, match=rf"x: expected shape \({n}, 4\).*\(got \({n}, 5\)\)"):
        net(batch32, torch.zeros(n, 5))
    with pytest.raises(MeshError, match=rf"x: expected shape \({n}, 4\).*\(got \({n - 1}, 4\)\)"):
        net(batch32, torch.zeros(n - 1, 4))
    with pytest.raises(MeshTypeError, match=r"x: expected the model's dtype torch.float32 \(got torch.float64\)"):
        net(batch32, torch.zeros(n, 4, dtype=torch.float64))
    with pytest.raises(MeshTypeError, match=r"x: expected a torch.Tensor \(got list\)"):
        net(batch32, [[0.0] * 4] * n)
    with pytest.raises(MeshTypeError, match=r"batch: expected a MeshBatch"):
        net((batch32.pos, batch32.faces), torch.zeros(n, 4))
    assert net(batch32, torch.zeros(n, 4)).shape == (n, 3)  # and the right call works


def test_feature_net_checks_too(batch32):
    net = FeatureNet(6, 8, family="spectral", width=8, n_blocks=1)
    with pytest.raises(MeshError, match="in_channels=6"):
        net(batch32, torch.zeros(batch32.num_vertices, 3))


BAD_ARGS = [
    (dict(family="bogus"), r"family: expected one of \('diffusion', .*\) \(got 'bogus'\)"),
    (dict(outputs="bogus"), r"outputs: expected 'vertices', 'faces' or 'global' \(got 'bogus'\)"),
    (dict(in_channels=-1), r"in_channels: expected a positive integer \(got -1\)"),
    (dict(in_channels=0), r"in_channels: expected a positive integer \(got 0\)"),
    (dict(in_channels=2.0), r"in_channels: expected a positive integer \(got 2.0\)"),
    (dict(out_channels=0), r"out_channels: expected a positive integer \(got 0\)"),
    (dict(width=0), r"width: expected a positive integer \(got 0\)"),
    (dict(width=True), r"width: expected a positive integer \(got True\)"),
    (dict(n_blocks=-1), r"n_blocks: expected a non-negative integer \(got -1\)"),
    (dict(dropout=2.0), r"dropout: expected a probability in \[0, 1\) \(got 2.0\)"),
    (dict(dropout=-0.1), r"dropout: expected a probability in \[0, 1\) \(got -0.1\)"),
    (dict(dropout=float("nan")), r"dropout: expected a probability in \[0, 1\) \(got nan\)"),
    (dict(dropout=1.0), r"dropout: expected a probability in \[0, 1\) \(got 1.0\)"),
    (dict(levels=-1), r"levels: expected a non-negative integer \(got -1\)"),
    (dict(family="gem", max_order=-1), r"max_order: expected a non-negative integer \(got -1\)"),
]


def _takes(ctor, kwargs) -> bool:
    if ctor is DiffusionNet:
        return set(kwargs) <= {"in_channels", "out_channels", "width", "n_blocks", "dropout", "outputs"}
    return "outputs" not in kwargs or ctor is SegmentationNet


ARG_CASES = [(c, k, m) for c in (SegmentationNet, FeatureNet, MeshBackbone, DiffusionNet) for k, m in BAD_ARGS
             if _takes(c, k)]


@pytest.mark.parametrize("ctor, kwargs, message", ARG_CASES, ids=[f"{c.__name__}-{k}" for c, k, _ in ARG_CASES])
def test_model_arguments_are_refused_with_their_name(ctor, kwargs, message):
    """Every bad argument is a one-line MeshShapeError naming it (a ValueError as before), raised by
    the constructor, not a RuntimeError / ZeroDivisionError / torch ValueError later."""
    args = {"in_channels": 4, "out_channels": 3, **kwargs}
    with pytest.raises(MeshShapeError, match=f"^{message}$"):
        ctor(args.pop("in_channels"), args.pop("out_channels"), **args)


@pytest.mark.parametrize("family", FAMILIES)
def test_good_arguments_still_build(family, batch32):
    net = SegmentationNet(4, 3, family=family, width=1, n_blocks=0, dropout=0.5)
    assert net.eval()(batch32, torch.zeros(batch32.num_vertices, 4)).shape == (batch32.num_vertices, 3)


@pytest.mark.parametrize("family", ["gcnn", "acnn", "monet", "gem"])
def test_patch_families_name_the_missing_patches(family, meshes):
    from manifold_nets.nn import MeshBatch

    b = MeshBatch.from_meshes(meshes[:1], k=4, patches=False)
    net = SegmentationNet(4, 3, family=family, width=8, n_blocks=1)
    with pytest.raises(MeshShapeError, match=r"expected a MeshBatch with (geodesic )?patches \(got patches=None\)"):
        net(b, torch.zeros(b.num_vertices, 4))
