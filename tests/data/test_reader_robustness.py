"""Odd but plausible inputs to the data-set readers: each is a typed error naming the file and the
line or entry (never a bare OSError/ValueError/KeyError/IndexError/MemoryError, a hang or a silent
misreading), and the fixes for the sweep's findings stay fixed."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from manifold_nets.data import (
    load_dataset,
    psb_categories,
    read_labeled_mesh,
    read_psb_segmentations,
)
from manifold_nets.data.maps import check_map, read_map
from manifold_nets.data.readers_common import read_part_names, read_text
from manifold_nets.errors import (
    MeshError,
    MeshFileError,
    MeshFileNotFoundError,
    MeshFileTooLargeError,
    MeshParseError,
    MeshShapeError,
    MeshTypeError,
)
from manifold_nets.io import write_mesh
from manifold_nets.shapes import grid, octahedron

V8, F8 = octahedron()  # 6 vertices, 8 faces
GOOD = "leg\n1 2 8\narm\n3 4\nhead\n5 6 7\n"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _psb(tmp_path, text, *, labels_name="1_labels.txt"):
    d = tmp_path / "Cat"
    d.mkdir(exist_ok=True)
    write_mesh(d / "1.off", V8, F8)
    (d / labels_name).write_text(text)
    return d


# ---------------------------------------------------------------------------------------------
# integer tokens


@pytest.mark.parametrize("token", ["1_0", "8_"])
def test_underscore_in_an_integer_is_refused_not_read_as_digits(tmp_path, token):
    """Python's int() reads "1_0" as 10: a typo must not become face/label 10."""
    _psb(tmp_path, f"leg\n1 2 {token}\narm\n3 4\nhead\n5 6 7 8\n")
    with pytest.raises(MeshParseError, match=rf"1_labels\.txt: line 2: expected an integer face index \(got '{token}'\)"):
        load_dataset(tmp_path, "labeled-psb", category="Cat")
    write_mesh(tmp_path / "m.off", V8, F8)
    (tmp_path / "m.seg").write_text("0\n" * 7 + "1_0\n")
    with pytest.raises(MeshParseError, match=r"m\.seg: line 8: expected an integer segment id \(got '1_0'\)"):
        read_labeled_mesh(tmp_path / "m.off", tmp_path / "m.seg")
    (tmp_path / "g.vts").write_text("1\n1_0\n")
    with pytest.raises(MeshParseError, match=r"g\.vts: line 2: expected a 1-based vertex index \(got '1_0'\)"):
        read_map(tmp_path / "g.vts")


def test_huge_index_names_the_line_and_token(tmp_path):
    _psb(tmp_path, "leg\n1 2 8\narm\n3 4 1e30\nhead\n5 6 7\n")
    with pytest.raises(MeshParseError, match=r"1_labels\.txt: line 4: expected an integer face index \(got '1e30', out of range\)"):
        load_dataset(tmp_path, "labeled-psb", category="Cat")
    p = tmp_path / "a.seg"
    p.write_text("0\n0\n99999999999999999999999\n")
    with pytest.raises(MeshParseError, match=r"a\.seg: line 3: expected an integer segment id \(got '9+', out of range\)"):
        read_labeled_mesh(tmp_path / "Cat" / "1.off", p)


# ---------------------------------------------------------------------------------------------
# files that are not plain files


@needs_fifo
def test_fifo_label_and_map_files_are_refused_not_read_forever(tmp_path):
    os.mkfifo(tmp_path / "gt.vts")
    with pytest.raises(MeshFileTooLargeError, match=r"gt\.vts: .*regular file \(got a FIFO\)"):
        read_map(tmp_path / "gt.vts")
    os.mkfifo(tmp_path / "gt.npy")
    with pytest.raises(MeshFileTooLargeError, match=r"gt\.npy: .*regular file \(got a FIFO\)"):
        read_map(tmp_path / "gt.npy")


def test_odd_paths_are_typed_errors(tmp_path):
    (tmp_path / "f.txt").write_text("1\n")
    with pytest.raises(MeshFileNotFoundError, match=r"f\.txt/x\.txt: expected an existing label file \(got no such file\)"):
        read_map(tmp_path / "f.txt" / "x.txt")
    os.symlink(tmp_path / "loop.txt", tmp_path / "loop.txt")
    with pytest.raises(MeshFileError, match=r"loop\.txt: expected a readable label file \(got .*symbolic links\)"):
        read_text(tmp_path / "loop.txt")
    with pytest.raises(MeshFileNotFoundError, match="embedded null byte"):
        read_part_names(str(tmp_path / "a\x00b.json"))
    if os.path.exists("/dev/zero"):
        with pytest.raises(MeshFileTooLargeError, match=r"/dev/zero: .*\(got a character device\)"):
            read_text("/dev/zero")


def test_psb_categories_of_a_missing_folder_is_typed(tmp_path):
    with pytest.raises(MeshFileNotFoundError, match=r"nope: expected a Labeled PSB data folder \(got no such folder\)"):
        psb_categories(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(MeshFileNotFoundError, match=r"file: expected a Labeled PSB data folder \(got a file\)"):
        psb_categories(tmp_path / "file")


# ---------------------------------------------------------------------------------------------
# Labeled PSB: label-file suffix in another case


def test_psb_labels_suffix_in_upper_case_is_found(tmp_path):
    _psb(tmp_path, GOOD, labels_name="1_LABELS.TXT")
    assert psb_categories(tmp_path) == ["Cat"]
    ds = load_dataset(tmp_path, "labeled-psb", category="Cat")
    assert ds.names == ["Cat/1"] and ds[0].face_labels.tolist() == [2, 2, 0, 0, 1, 1, 1, 2]
    (tmp_path / "Cat" / "1_labels.txt").write_text(GOOD)  # both spellings: ambiguous, neither read
    with pytest.raises(MeshError, match=r"Cat: expected one label file for id 1 \(got 1_LABELS\.TXT, 1_labels\.txt\)"):
        load_dataset(tmp_path, "labeled-psb", category="Cat")


# ---------------------------------------------------------------------------------------------
# part-name files


@pytest.mark.parametrize("key", ["-0", " 0", "\uff10", "00"])
def test_part_names_json_odd_label_keys_are_parse_errors(tmp_path, key):
    p = tmp_path / "names.json"
    p.write_text(json.dumps({"labels": {key: "a", "1": "b"}}))
    with pytest.raises(MeshParseError, match=r"names\.json: expected integer keys in 'labels'"):
        read_part_names(p)


def test_part_names_json_nested_too_deeply(tmp_path):
    p = tmp_path / "names.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MeshParseError, match=r"names\.json: expected JSON part names \(got .*nested too deeply\)"):
        read_part_names(p)


def test_part_names_text_file_duplicates_name_the_lines(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text("head\narm\n\nhead\n")
    with pytest.raises(MeshParseError, match=r"names\.txt: line 4: expected distinct part names \(got 'head', also on line 1\)"):
        read_part_names(p)


# ---------------------------------------------------------------------------------------------
# label_base and segmentation options


@pytest.mark.parametrize("base", ["1", 0.5, True])
def test_label_base_must_be_an_integer(tmp_path, base):
    write_mesh(tmp_path / "m.off", V8, F8)
    (tmp_path / "m.txt").write_text("1\n" * 8)
    with pytest.raises(MeshTypeError, match=r"label_base: expected an integer"):
        read_labeled_mesh(tmp_path / "m.off", tmp_path / "m.txt", format="maron", label_base=base)


def test_label_base_extreme_cannot_wrap_a_label_to_unlabelled(tmp_path):
    write_mesh(tmp_path / "m.off", V8, F8)
    (tmp_path / "m.txt").write_text("9223372036854775807\n" + "1\n" * 7)
    with pytest.raises(MeshError, match=r"label_base: expected an integer in"):
        read_labeled_mesh(tmp_path / "m.off", tmp_path / "m.txt", format="maron", label_base=-(2**63))
    with pytest.raises(MeshParseError, match=r"m\.txt: line 1: expected a label in \[-1, 998\] .*\(got 9223372036854775807\)"):
        read_labeled_mesh(tmp_path / "m.off", tmp_path / "m.txt", format="maron", label_base=-1)


def test_psb_seg_segmentation_must_be_an_integer(tmp_path):
    write_mesh(tmp_path / "1.off", V8, F8)
    (tmp_path / "1.seg").write_text("0\n" * 8)
    with pytest.raises(MeshTypeError, match=r"segmentation: expected an integer index .*\(got 'x'\)"):
        load_dataset(tmp_path, "psb-seg", segmentation="x")


# ---------------------------------------------------------------------------------------------
# MeshCNN soft labels


def test_seseg_with_more_columns_than_parts_allowed(tmp_path):
    V, F = grid(3)
    write_mesh(tmp_path / "g.obj", V, F)
    (tmp_path / "g.seseg").write_text(("1 " + "0 " * 1500 + "\n") * 16)
    with pytest.raises(MeshParseError, match=r"g\.seseg: line 1: expected at most 1000 soft labels per line, one per part \(got 1501\)"):
        read_labeled_mesh(tmp_path / "g.obj", tmp_path / "g.seseg")


# ---------------------------------------------------------------------------------------------
# .npy label and map files


def test_npy_labels_too_large_or_unsigned_wrap(tmp_path):
    write_mesh(tmp_path / "a.off", V8, F8)
    np.save(tmp_path / "a.npy", np.array([0, 0, 1, 1, 2, 2, 2, 1e30]))
    with pytest.raises(MeshParseError, match=r"a\.npy: entry 7: expected an integer label \(got 1e\+30\)"):
        load_dataset(tmp_path, "folder")
    # 2**64 - 1 as uint64 would wrap to -1 ("unlabelled") when cast to int64
    np.save(tmp_path / "a.npy", np.array([0, 0, 1, 1, 2, 2, 2, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(MeshParseError, match=r"a\.npy: entry 7: expected a label in \[0, 999\] .*\(got 18446744073709551615\)"):
        load_dataset(tmp_path, "folder")


def _npy_bytes(a) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_npy_truncated_empty_or_lying_header(tmp_path):
    write_mesh(tmp_path / "a.off", V8, F8)
    (tmp_path / "a.npy").write_bytes(b"")
    with pytest.raises(MeshParseError, match=r"a\.npy: expected a \.npy label array in NumPy \.npy format"):
        load_dataset(tmp_path, "folder")
    good = _npy_bytes(np.zeros(8, np.int64))
    # a header announcing 10**13 entries must not allocate 80 TB
    (tmp_path / "a.npy").write_bytes(good.replace(b"'shape': (8,), ", b"'shape': (10000000000000,), "))
    with pytest.raises(MeshParseError, match=r"a\.npy: expected 10000000000000 values of int64 .*truncated"):
        load_dataset(tmp_path, "folder")
    (tmp_path / "gt.npy").write_bytes(good[:-10])
    with pytest.raises(MeshParseError, match=r"gt\.npy: expected 8 values of int64 .*truncated"):
        read_map(tmp_path / "gt.npy")


def test_pickled_npy_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "gt.npy", np.array([0, 1, None], dtype=object), allow_pickle=True)
    with pytest.raises(MeshParseError, match=r"gt\.npy: .*object array.*not loaded"):
        read_map(tmp_path / "gt.npy")


def test_map_files_huge_values_name_line_or_entry(tmp_path):
    (tmp_path / "gt.vts").write_text("1\n1e30\n")
    with pytest.raises(MeshParseError, match=r"gt\.vts: line 2: expected a 1-based vertex index \(got '1e30', out of range\)"):
        read_map(tmp_path / "gt.vts")
    (tmp_path / "gt.vts").write_text("1\n99999999999999999999999 0.5\n")
    with pytest.raises(MeshParseError, match=r"gt\.vts: line 2: .*out of range"):
        read_map(tmp_path / "gt.vts")
    np.save(tmp_path / "f.npy", np.array([0.0, 1e30]))
    with pytest.raises(MeshParseError, match=r"f\.npy: entry 1: expected a 0-based vertex index \(got 1e\+30, out of range\)"):
        read_map(tmp_path / "f.npy")
    np.save(tmp_path / "u.npy", np.array([0, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(MeshParseError, match=r"u\.npy: entry 1: .*\(got 18446744073709551615, out of range\)"):
        read_map(tmp_path / "u.npy")


def test_check_map_counts_and_unsigned(tmp_path):
    with pytest.raises(MeshTypeError, match=r"n_source: expected a vertex count.*\(got 'x'\)"):
        check_map([0], n_source="x")
    with pytest.raises(MeshTypeError, match=r"n_target: expected a vertex count.*\(got -1\)"):
        check_map([0], n_target=-1)
    with pytest.raises(MeshShapeError, match=r"gt: line 1: expected a vertex index in the int64 range \(got 18446744073709551615\)"):
        check_map(np.array([2**64 - 1], np.uint64), n_target=3, where="gt")
    assert check_map([0, 2], n_source=np.int64(2), n_target=3).tolist() == [0, 2]


# ---------------------------------------------------------------------------------------------
# a second sweep: orphan label files, split names, unlabelled meshes, empty names, ambiguity, case


def _case_sensitive(folder) -> bool:
    (folder / "case.probe").write_text("")
    same = (folder / "CASE.PROBE").exists()
    (folder / "case.probe").unlink()
    return not same


def _maron(tmp_path, labels=("a",), meshes=("a",)):
    (tmp_path / "meshes" / "train").mkdir(parents=True)
    (tmp_path / "segs").mkdir()
    for m in meshes:
        write_mesh(tmp_path / "meshes" / "train" / f"{m}.off", V8, F8)
    for s in labels:
        (tmp_path / "segs" / f"{s}.txt").write_text("1\n1\n2\n2\n3\n3\n3\n1\n")
    return tmp_path


def test_maron_label_file_without_a_mesh_is_an_error_or_skipped(tmp_path):
    root = _maron(tmp_path, labels=("a", "z"))                        # z.txt was silently ignored
    z = root / "segs" / "z.txt"
    with pytest.raises(MeshFileNotFoundError, match=rf"^{re.escape(str(z))}: expected a mesh named z .* "
                                                    rf"under .*meshes for the label file \(got none\)$"):
        load_dataset(root, "maron")
    ds = load_dataset(root, "maron", skip_bad=True)
    assert ds.names == ["train/a"] and [s[0] for s in ds.skipped] == [str(z)]
    assert "expected a mesh named z" in ds.skipped[0][1]
    # the label file of a mesh in another split is not an orphan
    (root / "meshes" / "test").mkdir()
    write_mesh(root / "meshes" / "test" / "z.off", V8, F8)
    assert load_dataset(root, "maron", split="train").names == ["train/a"]


@pytest.mark.parametrize("split", ["..", ".", "../meshes", "train/..", "a\\b", "", "C:x", "ABS"])
def test_split_must_be_a_plain_folder_name(tmp_path, split):
    root = _maron(tmp_path / "m")
    (tmp_path / "elsewhere").mkdir()
    if split == "ABS":
        split = str(tmp_path / "elsewhere")                            # was read from that folder
    with pytest.raises(MeshError, match=rf"^split: expected the name of a folder in .*meshes, such as 'train' "
                                        rf"or 'test', .*\(got {re.escape(repr(split))}\)$"):
        load_dataset(root, "maron", split=split)
    (tmp_path / "c" / "train").mkdir(parents=True)
    with pytest.raises(MeshError, match=rf"^split: expected the name of a folder in .*c, .*\(got {re.escape(repr(split))}\)$"):
        load_dataset(tmp_path / "c", "meshcnn", split=split)


def test_split_of_another_type_is_a_type_error(tmp_path):
    root = _maron(tmp_path)
    with pytest.raises(MeshTypeError, match=r"^split: expected a folder name such as 'train' or 'test' \(got 3\)$"):
        load_dataset(root, "maron", split=3)


def test_folder_mesh_with_no_labelled_element_is_an_error_or_skipped(tmp_path):
    write_mesh(tmp_path / "a.off", V8, F8)
    (tmp_path / "a.labels.txt").write_text("-1\n" * 8)                # was a data set of 0 part names
    write_mesh(tmp_path / "b.off", V8, F8)
    (tmp_path / "b.labels.txt").write_text("0\n1\n" * 4)
    a = tmp_path / "a.labels.txt"
    with pytest.raises(MeshParseError, match=rf"^{re.escape(str(a))}: expected at least one labelled face \(got all -1\)$"):
        load_dataset(tmp_path, "folder")
    ds = load_dataset(tmp_path, "folder", skip_bad=True)
    assert ds.names == ["b"] and ds.part_names == ("part_0", "part_1")
    assert ds.skipped == [(str(tmp_path / "a.off"), f"{a}: expected at least one labelled face (got all -1)")]
    a.unlink()
    np.save(tmp_path / "a.npy", np.full(6, -1))                       # per vertex (6 vertices)
    with pytest.raises(MeshParseError, match=r"a\.npy: expected at least one labelled vertex \(got all -1\)$"):
        load_dataset(tmp_path, "folder")


@pytest.mark.parametrize("name, text, words", [
    ("n.json", "[]", r"n\.json: expected at least one part name \(got an empty list\)"),
    ("n.json", '{"labels": {}}', r"n\.json: expected at least one part name \(got an empty 'labels' object\)"),
    ("n.json", '{"part_names": []}', r"n\.json: expected at least one part name \(got an empty 'part_names' list\)"),
    ("n.txt", "", r"n\.txt: line 1: expected at least one part name, one per line \(got an empty file\)"),
    ("n.txt", "\n  \n", r"n\.txt: line 1: expected at least one part name, one per line \(got only blank lines\)"),
    ("n.json", '["a", ""]', r"n\.json: entry 1: expected a non-empty part name \(got ''\)"),
    ("n.json", '{"labels": {"0": "a", "1": " "}}', r"n\.json: entry 1: expected a non-empty part name \(got ' '\)"),
])
def test_empty_part_name_lists_and_names_are_refused(tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    with pytest.raises(MeshParseError, match=words):
        read_part_names(tmp_path / name)


def test_empty_part_names_in_a_data_set_name_the_file_or_argument(tmp_path):
    write_mesh(tmp_path / "a.off", V8, F8)
    (tmp_path / "a.labels.txt").write_text("0\n0\n1\n1\n2\n2\n2\n0\n")
    (tmp_path / "a.json").write_text("[]")                            # was "a label in [0, -1] for 0 part names"
    with pytest.raises(MeshParseError, match=r"a\.json: expected at least one part name \(got an empty list\)"):
        load_dataset(tmp_path, "folder")
    _psb(tmp_path, GOOD)
    with pytest.raises(MeshError, match=r"^labels: entry 3: expected a non-empty part name \(got ''\)$"):
        load_dataset(tmp_path, "labeled-psb", category="Cat", labels=["leg", "arm", "head", ""])
    with pytest.raises(MeshError, match=r"^labels: entry 0: expected a non-empty part name \(got ' '\)$"):
        load_dataset(tmp_path, "labeled-psb", category="Cat", labels=[" ", "leg", "arm", "head"])
    with pytest.raises(MeshError, match=r"^labels: expected at least one part name \(got an empty list\)$"):
        load_dataset(tmp_path, "labeled-psb", category="Cat", labels=[])
    with pytest.raises(MeshError, match=r"^part_names: entry 1: expected a non-empty part name"):
        read_labeled_mesh(tmp_path / "Cat" / "1.off", tmp_path / "Cat" / "1_labels.txt", part_names=["leg", ""])


def test_psb_seg_two_files_for_one_segmentation_are_ambiguous(tmp_path):
    write_mesh(tmp_path / "1.off", V8, F8)
    (tmp_path / "1_0.seg").write_text("0\n" * 8)
    (tmp_path / "1_00.seg").write_text("1\n" * 8)                     # both were segmentation 0
    write_mesh(tmp_path / "2.off", V8, F8)
    (tmp_path / "2_0.seg").write_text("0\n" * 8)
    words = (rf"^{re.escape(str(tmp_path))}: expected one segmentation file 1_0\.seg of mesh 1 "
             r"\(got 1_0\.seg, 1_00\.seg, the same segmentation: .*ambiguous\)$")
    for k in (0, 1):
        with pytest.raises(MeshError, match=words):
            load_dataset(tmp_path, "psb-seg", segmentation=k)
    ds = load_dataset(tmp_path, "psb-seg", skip_bad=True)
    assert ds.names == [f"{tmp_path.name}/2"] and [s[0] for s in ds.skipped] == [str(tmp_path / "1.off")]
    with pytest.raises(MeshError, match=r"1_0\.seg, 1_00\.seg"):
        read_psb_segmentations(tmp_path, 1)


def test_side_file_suffixes_match_in_any_case(tmp_path):
    f = tmp_path / "f"
    f.mkdir()
    write_mesh(f / "a.off", V8, F8)
    (f / "a.LABELS.TXT").write_text("0\n0\n1\n1\n2\n2\n2\n0\n")       # was "expected labels in ... (got none)"
    (f / "a.JSON").write_text('["x", "y", "z"]')
    write_mesh(f / "b.off", V8, F8)
    (f / "b.NPY").write_bytes(_npy_bytes(np.array([2, 2, 1, 1, 0, 0, 0, 2])))
    ds = load_dataset(f, "folder")
    assert ds.part_names == ("x", "y", "z")
    assert [m.face_labels.tolist() for m in ds] == [[0, 0, 1, 1, 2, 2, 2, 0], [2, 2, 1, 1, 0, 0, 0, 2]]
    m = tmp_path / "m"
    for d in ("train", "seg"):
        (m / d).mkdir(parents=True)
    V, F = grid(3)
    write_mesh(m / "train" / "g.obj", V, F)
    n_edges = len(np.unique(np.sort(F[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0))
    (m / "seg" / "g.ESEG").write_text("1\n" * n_edges)                  # was "expected its edge labels in g.eseg"
    assert load_dataset(m, "meshcnn").names == ["train/g"]


def test_side_files_that_differ_only_in_case_are_ambiguous(tmp_path):
    if not _case_sensitive(tmp_path):
        pytest.skip("the file system ignores case")
    write_mesh(tmp_path / "a.off", V8, F8)
    (tmp_path / "a.labels.txt").write_text("0\n0\n1\n1\n2\n2\n2\n0\n")
    (tmp_path / "a.LABELS.TXT").write_text("1\n1\n0\n0\n2\n2\n2\n1\n")   # the lower-case one was read
    write_mesh(tmp_path / "b.off", V8, F8)
    (tmp_path / "b.labels.txt").write_text("0\n0\n1\n1\n2\n2\n2\n0\n")
    with pytest.raises(MeshError, match=rf"^{re.escape(str(tmp_path))}: expected one label file a\.labels\.txt "
                                        r"\(got a\.LABELS\.TXT, a\.labels\.txt, which differ only in case: .*ambiguous\)$"):
        load_dataset(tmp_path, "folder")
    ds = load_dataset(tmp_path, "folder", skip_bad=True)
    assert ds.names == ["b"] and [s[0] for s in ds.skipped] == [str(tmp_path / "a.off")]
    m = tmp_path / "m"
    for d in ("train", "seg"):
        (m / d).mkdir(parents=True)
    V, F = grid(3)
    write_mesh(m / "train" / "g.obj", V, F)
    (m / "seg" / "g.eseg").write_text("1\n")
    (m / "seg" / "g.ESEG").write_text("1\n")
    with pytest.raises(MeshError, match=r"seg: expected one edge label file g\.eseg \(got g\.ESEG, g\.eseg, which differ only in case"):
        load_dataset(m, "meshcnn")
