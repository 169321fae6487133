"""The batch manifest: JSON lines, partial last line, final view, the resume rule."""

from __future__ import annotations

import json

import pytest

from manifold_nets.batch.manifest import (
    MANIFEST_NAME,
    Manifest,
    final_view,
    read_manifest,
    why_not_done,
)
from manifold_nets.batch.tasks import file_sha256


def _rec(key, status="ok", **kw):
    return {"key": key, "task": key.split(":")[0], "status": status, **kw}


def test_append_read_and_partial_line(tmp_path):
    with Manifest(tmp_path) as m:
        m.append(_rec("info:a.off"))
        m.append(_rec("info:b.off", "failed", error="MeshParseError"))
        m.append(_rec("info:a.off", seconds=2.0))
    path = tmp_path / MANIFEST_NAME
    with open(path, "ab") as fh:  # a run killed while writing a line
        fh.write(b'{"key": "info:c.off", "sta')
    recs = read_manifest(path)
    assert [r["key"] for r in recs] == ["info:a.off", "info:b.off", "info:a.off"]
    assert all("finished" in r for r in recs)
    view = final_view(recs)
    assert list(view) == ["info:a.off", "info:b.off"] and view["info:a.off"]["seconds"] == 2.0
    # resuming keeps the complete lines, drops the partial one, and appends after them
    m = Manifest(tmp_path, resume=True)
    assert set(m.previous) == {"info:a.off", "info:b.off"}
    m.append(_rec("info:c.off"))
    assert [r["key"] for r in m.records()][-1] == "info:c.off"
    assert path.read_bytes().count(b"\n") == 4 and b'"sta\n' not in path.read_bytes()
    view = m.compact(["info:c.off", "info:a.off"])
    m.close()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["key"] for x in lines] == ["info:c.off", "info:a.off"]
    assert list(view) == ["info:c.off", "info:a.off"]


def test_new_run_starts_an_empty_manifest(tmp_path):
    with Manifest(tmp_path) as m:
        m.append(_rec("info:a.off"))
    with Manifest(tmp_path, resume=False) as m:
        assert m.previous == {} and m.records() == []


def test_why_not_done(tmp_path):
    out = tmp_path / "x.info.json"
    out.write_bytes(b'{"n": 1}\n')
    rec = _rec("info:x.off", fingerprint="f1", input_sha256="h1",
               outputs=[{"path": "x.info.json", "sha256": file_sha256(out), "bytes": out.stat().st_size}])
    kw = {"input_sha256": "h1", "fingerprint": "f1"}
    assert why_not_done(rec, tmp_path, **kw) is None
    assert why_not_done(None, tmp_path, **kw) == "not done"
    assert why_not_done({**rec, "status": "failed"}, tmp_path, **kw) == "failed before"
    assert why_not_done(rec, tmp_path, input_sha256="h2", fingerprint="f1") == "input changed"
    assert why_not_done(rec, tmp_path, input_sha256="h1", fingerprint="f2").startswith("other parameters")
    assert why_not_done({**rec, "outputs": []}, tmp_path, **kw) == "no outputs recorded"
    out.write_bytes(b'{"n": 2}\n')  # same size, other content: a stale hash
    assert why_not_done(rec, tmp_path, **kw) == "output x.info.json has another content hash"
    out.write_bytes(b'{"n"')  # truncated
    assert "has 4 bytes instead of 9" in why_not_done(rec, tmp_path, **kw)
    out.unlink()
    assert why_not_done(rec, tmp_path, **kw) == "output x.info.json missing"


@pytest.mark.parametrize("junk", [b"not json\n", b"[1, 2]\n", b'{"no_key": 1}\n', b"\xff\xfe\n"])
def test_unreadable_lines_are_skipped(tmp_path, junk):
    p = tmp_path / MANIFEST_NAME
    p.write_bytes(junk + json.dumps(_rec("info:a.off")).encode() + b"\n")
    assert [r["key"] for r in read_manifest(p)] == ["info:a.off"]
