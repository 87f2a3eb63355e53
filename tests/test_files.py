"""Whole-file writes: a reader sees the old file or the new one, never half of one; a failed write
leaves nothing behind."""

from __future__ import annotations

import pytest
import torch

from ganprior.files import atomic_write, save_tensors, tensor_metadata, write_whole


def test_a_write_lands_whole_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    with atomic_write(path) as part:
        assert part.parent == path.parent and not path.exists()
        part.write_text("half")
        assert not path.exists()  # nothing under the real name until the writer is done
        part.write_text("whole")
    assert path.read_text() == "whole"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path, error):
    path = tmp_path / "out.bin"
    write_whole(path, b"old")
    with pytest.raises(error), atomic_write(path) as part:
        part.write_bytes(b"new but cut")
        raise error("stop")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_failed_first_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "new.png") as part:
        part.write_bytes(b"x")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_tensors_and_their_metadata_round_trip(tmp_path):
    path = tmp_path / "t.safetensors"
    save_tensors(path, {"w": torch.arange(3.0)}, {"card": '{"name": "x"}', "note": "plain"})
    assert tensor_metadata(path, "card") == {"name": "x"}
    assert tensor_metadata(path, "missing") is None
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]
