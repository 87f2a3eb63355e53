"""The command line: a happy path on a real photograph with a drawn mask, and every user mistake
gives one line on stderr, exit status 2, no traceback, and nothing overwritten."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganprior
from ganprior.cli import main
from ganprior.commands import COMMANDS
from ganprior.solvers import METHODS


@pytest.fixture
def photo(tmp_path):
    """A 48×40 'photograph' (smooth colours) and a mask drawn at its size (black = hole)."""
    yy, xx = np.mgrid[0:40, 0:48]
    rgb = np.stack([xx * 5, yy * 6, (xx + yy) * 3], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    mask = np.full((40, 48), 255, np.uint8)
    mask[12:28, 16:32] = 0
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "photo.png", tmp_path / "mask.png"


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_restore_writes_every_output(photo, tiny_checkpoint, tmp_path, capsys):
    image, mask = photo
    out = tmp_path / "out"
    code, stdout, _ = run(
        [
            "restore",
            image,
            "--task",
            "inpaint",
            "--mask",
            mask,
            "--model",
            tiny_checkpoint,
            "--steps",
            "5",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0 and "restored 1 image" in stdout
    names = {p.name for p in out.iterdir()}
    expected = {f"photo_{k}.png" for k in ("restored", "raw", "observation", "compare")} | {"photo.json"}
    assert names == expected | {"manifest.json"}
    report = json.loads((out / "photo.json").read_text())
    assert len(report["loss_curve"]) == 5 and report["settings"]["task"] == "inpaint"
    restored = np.asarray(Image.open(out / "photo_restored.png"))
    original = np.asarray(Image.open(image))
    known = np.asarray(Image.open(mask)) > 127
    assert restored.shape == original.shape  # back at the photo's own size
    assert np.array_equal(restored[known], original[known])  # the photo's known pixels, bit for bit
    assert not np.array_equal(restored[~known], original[~known])  # the hole comes from the model
    assert report["frame"]["size"] == [48, 40] and report["frame"]["square"] == [4, 0, 44, 40]
    assert np.asarray(Image.open(out / "photo_raw.png")).shape[:2] == (16, 16)  # the model's own output


@pytest.mark.parametrize(
    ("task", "fit", "size"),
    [("denoise", "pad", (40, 48)), ("sr", "crop", (160, 192)), ("colorize", "crop", (40, 48))],
)
def test_results_come_back_at_the_photos_own_size(task, fit, size, photo, tiny_checkpoint, tmp_path, capsys):
    """Every task writes NAME_restored.png in the photo's frame (sr: the input enlarged by the factor);
    colorize keeps the photo's own luma at full resolution."""
    out = tmp_path / "out"
    args = ["restore", photo[0], "--task", task, "--fit", fit, "--model", tiny_checkpoint, "--steps", "2"]
    assert run([*args, "--out", out], capsys)[0] == 0
    restored = Image.open(out / "photo_restored.png")
    assert restored.size[::-1] == size
    if task == "colorize":
        luma = np.asarray(restored.convert("L"), dtype=float)
        assert np.abs(luma - np.asarray(Image.open(photo[0]).convert("L"), dtype=float)).max() <= 2


def test_simulate_reports_metrics(photo, tiny_checkpoint, tmp_path, capsys):
    code, stdout, _ = run(
        [
            "restore",
            photo[0],
            "--task",
            "sr",
            "--factor",
            "2",
            "--simulate",
            "--model",
            tiny_checkpoint,
            "--steps",
            "3",
            "--out",
            tmp_path / "o",
        ],
        capsys,
    )
    assert code == 0 and "psnr" in stdout
    assert "psnr" in json.loads((tmp_path / "o" / "photo.json").read_text())["metrics"]


def bad_inputs(tmp_path, photo, tiny_checkpoint):
    image, _mask = photo
    (tmp_path / "broken.png").write_bytes(b"not an image")
    Image.new("L", (10, 10), 255).save(tmp_path / "small_mask.png")
    wrong = tmp_path / "wrong.pt"

    torch.save({"stages.0.0.weight": torch.zeros(3, 3)}, wrong)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    common = ["--model", tiny_checkpoint, "--steps", "2", "--out", tmp_path / "new"]
    return {
        "missing file": (["restore", tmp_path / "nope.png", "--task", "inpaint", *common], "does not exist"),
        "undecodable file": (
            ["restore", tmp_path / "broken.png", "--task", "inpaint", *common],
            "cannot decode",
        ),
        "mask of the wrong size": (
            ["restore", image, "--task", "inpaint", "--mask", tmp_path / "small_mask.png", *common],
            "mask",
        ),
        "unknown model": (
            ["restore", image, "--task", "inpaint", "--model", "nosuch", "--out", tmp_path / "n"],
            "unknown model",
        ),
        "unknown task": (["restore", image, "--task", "paint", *common], "invalid choice"),
        "unknown method": (
            ["restore", image, "--task", "inpaint", "--method", "magic", *common],
            "unknown method",
        ),
        "factor the resolution cannot take": (
            ["restore", image, "--task", "sr", "--factor", "3", *common],
            "does not divide",
        ),
        "checkpoint of the wrong shape": (
            [
                "restore",
                image,
                "--task",
                "inpaint",
                "--model",
                wrong,
                "--arch",
                "dcgan",
                "--arch-option",
                "resolution=16",
                "--out",
                tmp_path / "n",
            ],
            "does not fit",
        ),
        "output would be overwritten": (
            ["restore", image, "--task", "inpaint", "--model", tiny_checkpoint, "--out", tmp_path / "full"],
            "--overwrite",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "undecodable file",
        "mask of the wrong size",
        "unknown model",
        "unknown task",
        "unknown method",
        "factor the resolution cannot take",
        "checkpoint of the wrong shape",
        "output would be overwritten",
    ],
)
def test_user_mistakes_exit_2_with_one_line(case, tmp_path, photo, tiny_checkpoint, capsys):
    args, expected = bad_inputs(tmp_path, photo, tiny_checkpoint)[case]
    code, _, err = run(args, capsys)
    assert code == 2
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= (3 if case == "unknown task" else 1)  # argparse adds its usage
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_console_script_exit_status(tmp_path):
    """The installed entry point itself: status 2 and one line for a missing input."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganprior.cli",
            "restore",
            str(tmp_path / "nope.png"),
            "--task",
            "inpaint",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    )


def test_models_lists_the_zoo(capsys):
    code, stdout, _ = run(["models"], capsys)
    assert code == 0 and "face64" in stdout and "eyes128" in stdout


def _modules_imported_by(*args: str) -> set[str]:
    """The ganprior modules a fresh interpreter imports to run ``ganprior ARGS``."""
    code = (
        "import contextlib, io, sys\n"
        "from ganprior.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({list(args)!r})\n"
        "print(' '.join(m for m in sys.modules if m.startswith('ganprior')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def test_help_and_models_import_only_what_they_need():
    package = Path(ganprior.__file__).parent
    total = sum(1 for _ in package.rglob("*.py"))
    assert not any(m.startswith("ganprior.commands.") for m in _modules_imported_by("--help"))
    used = _modules_imported_by("models")
    assert "ganprior.commands.models" in used and "ganprior.commands.restore" not in used
    assert len(used) < total / 3, sorted(used)
    ui_help = _modules_imported_by("ui", "--help")  # the web server only when `ganprior ui` runs
    assert "ganprior.commands.ui" in ui_help and not any(m.startswith("ganprior.ui") for m in ui_help)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_module_imports_on_its_own(name):
    """No import cycle between command modules: each one imports first in a fresh interpreter, and
    its parser carries the help line ``ganprior --help`` shows."""
    code = (
        "import argparse, importlib\n"
        f"module = importlib.import_module('ganprior.commands.{name}')\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "module.register(sub)\n"
        "print(sub._choices_actions[0].help)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == COMMANDS[name]


def test_inspect_prints_what_the_file_holds(tiny_checkpoint, capsys):
    code, stdout, _ = run(["inspect", tiny_checkpoint], capsys)
    assert code == 0
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in stdout.splitlines())
    assert fields["resolution"] == "16" and fields["discriminator"] == "no" and fields["latent dim"] == "8"
    code, stdout, _ = run(["inspect", tiny_checkpoint, "--json"], capsys)
    assert json.loads(stdout)["summary"]["channels"] == 3


def test_convert_writes_a_file_with_identical_outputs(tiny_checkpoint, tmp_path, capsys):

    from ganprior import zoo

    out = tmp_path / "converted.safetensors"
    assert run(["convert", tiny_checkpoint, out], capsys)[0] == 0
    original, converted = zoo.load(tiny_checkpoint), zoo.load(out)
    z = torch.randn(2, original.generator.latent_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(original.generator(z), converted.generator(z))
    assert converted.card["converted_from"]["file"] == tiny_checkpoint.name
    before = out.read_bytes()
    code, _, err = run(["convert", tiny_checkpoint, out], capsys)  # exists: refused, untouched
    assert code == 2 and "--overwrite" in err and out.read_bytes() == before
    code, _, err = run(["convert", out, out, "--overwrite"], capsys)  # never replaces its input
    assert code == 2 and "input" in err and out.read_bytes() == before


@pytest.mark.parametrize("content", [b"not a checkpoint\n", b""])
def test_inspect_refuses_a_foreign_or_empty_file_in_one_line(tmp_path, content, capsys):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    code, _, err = run(["inspect", path], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot read" in err


@pytest.mark.parametrize("method", list(METHODS))
def test_reconstruct_works_for_every_method(method, photo, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["restore", photo[0], "--task", "reconstruct", "--method", method, "--model", tiny_checkpoint]
    code, _, err = run([*args, "--steps", "3", "--out", out], capsys)
    assert code == 0, err
    report = json.loads((out / "photo.json").read_text())
    assert (
        report["reconstruction"] == "photo_latent.safetensors" and (out / report["reconstruction"]).is_file()
    )
    assert report["degradation"] == "operator"  # nothing degraded
    raw = torch.from_numpy(np.asarray(Image.open(out / "photo_raw.png"), dtype=np.float32))
    restored = np.asarray(Image.open(out / "photo_restored.png"), dtype=np.float32)
    enlarged = torch.nn.functional.interpolate(  # the generator's own image, enlarged into the square
        raw.permute(2, 0, 1)[None], size=(40, 40), mode="bicubic", antialias=True
    )[0].permute(1, 2, 0)
    assert np.abs(restored[:, 4:44] - enlarged.clamp(0, 255).numpy()).max() <= 1.5


def test_restore_warns_about_an_inverted_mask_and_reads_it_with_mask_fill_white(
    photo, tiny_checkpoint, tmp_path, capsys
):
    image, mask = photo
    lama = tmp_path / "lama.png"  # the same hole drawn as LaMa / OpenCV expect: white = fill
    Image.fromarray(255 - np.asarray(Image.open(mask))).save(lama)
    common = ["restore", image, "--task", "inpaint", "--model", tiny_checkpoint, "--steps", "2"]
    code, _, err = run([*common, "--mask", lama, "--out", tmp_path / "a"], capsys)
    assert code == 0 and "inverted" in err and "--mask-fill white" in err
    code, _, err = run([*common, "--mask", lama, "--mask-fill", "white", "--out", tmp_path / "b"], capsys)
    assert code == 0 and "warning" not in err
    run([*common, "--mask", mask, "--out", tmp_path / "c"], capsys)
    as_lama = json.loads((tmp_path / "b" / "photo.json").read_text())["mask"]
    as_ours = json.loads((tmp_path / "c" / "photo.json").read_text())["mask"]
    assert as_lama["fill"] == "white" and as_lama["fill_fraction"] == as_ours["fill_fraction"] < 0.5
    same = [np.asarray(Image.open(tmp_path / d / "photo_observation.png")) for d in "bc"]
    assert np.array_equal(*same)


def test_sigterm_mid_folder_leaves_whole_files_and_a_report(photo, tiny_checkpoint, tmp_path):
    """A run killed between images keeps the finished ones whole, lists what was done, exits 130."""
    import signal
    import time

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.png").write_bytes(photo[0].read_bytes())
    out = tmp_path / "out"
    args = ["restore", folder, "--task", "denoise", "--model", tiny_checkpoint, "--batch-size", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganprior.cli", *map(str, args), "--steps", "1000", "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )

    def recorded() -> bool:  # p0 in the manifest: its files written and the run past them (p0.json alone
        try:  # can come just before the run counts p0 as done, and a signal there finds none done)
            return "p0" in json.loads((out / "manifest.json").read_text())["entries"]
        except (OSError, ValueError, KeyError):
            return False

    deadline = time.monotonic() + 120
    while not recorded() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] and report["done"] and len(report["done"]) + len(report["not_done"]) == 3
    for done in report["done"]:
        stem = Path(done).stem
        assert json.loads((out / f"{stem}.json").read_text())["input"] == done
        Image.open(out / f"{stem}_restored.png").verify()
    assert not list(out.glob("*.part")) and "Traceback" not in err
    written = {
        p.name: p.stat().st_mtime_ns
        for p in out.iterdir()
        if p.name.startswith(tuple(Path(d).stem + "_" for d in report["done"]))
    }
    rerun = subprocess.run(  # the same command again finishes the folder without redoing anything
        [sys.executable, "-m", "ganprior.cli", *map(str, args), "--steps", "1000", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0 and "done before, kept" in rerun.stdout, rerun.stderr
    assert all(out.joinpath(name).stat().st_mtime_ns == t for name, t in written.items())
    assert all((out / f"p{i}_restored.png").is_file() for i in range(3))
    whole = tmp_path / "whole"  # an uninterrupted run gives the same files
    assert main([*map(str, args), "--steps", "1000", "--out", str(whole)]) == 0
    for i in range(3):
        assert (whole / f"p{i}_restored.png").read_bytes() == (out / f"p{i}_restored.png").read_bytes()


def test_a_512px_jpeg_inpainted_keeps_its_known_pixels_exactly(tiny_checkpoint, tmp_path, capsys):
    yy, xx = np.mgrid[0:512, 0:512]
    rgb = np.stack([xx // 2, yy // 2, (xx + yy) // 4], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo_512.jpg", quality=90)
    hole = np.full((512, 512), 255, np.uint8)
    hole[200:330, 150:300] = 0
    Image.fromarray(hole).save(tmp_path / "m.png")
    args = ["restore", tmp_path / "photo_512.jpg", "--task", "inpaint", "--mask", tmp_path / "m.png"]
    assert run([*args, "--model", tiny_checkpoint, "--steps", "2", "--out", tmp_path / "o"], capsys)[0] == 0
    restored = np.asarray(Image.open(tmp_path / "o" / "photo_512_restored.png"))
    original = np.asarray(Image.open(tmp_path / "photo_512.jpg"))
    assert restored.shape == (512, 512, 3)
    assert np.array_equal(restored[hole > 127], original[hole > 127])


def test_a_finished_folder_is_kept_and_other_settings_are_refused(photo, tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(photo[0].read_bytes())
    out = tmp_path / "out"
    args = ["restore", folder, "--task", "denoise", "--model", tiny_checkpoint, "--out", out]
    assert run([*args, "--steps", "3"], capsys)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code, stdout, _ = run([*args, "--steps", "3"], capsys)
    assert code == 0 and "nothing to do" in stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    code, _, err = run([*args, "--steps", "4"], capsys)
    assert code == 2 and "other settings (steps)" in err
    Image.open(photo[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.png")  # a new input
    code, stdout, _ = run([*args, "--steps", "3"], capsys)
    assert code == 0 and "restored 1 image" in stdout and "1 done before" in stdout
    assert (out / "b_restored.png").is_file()
    assert out.joinpath("a_restored.png").stat().st_mtime_ns == before["a_restored.png"]


def test_precision_bf16_runs_and_is_recorded(photo, tiny_checkpoint, tmp_path, capsys, monkeypatch):
    from ganprior.solvers import precision

    args = ["restore", photo[0], "--task", "denoise", "--model", tiny_checkpoint, "--steps", "2"]
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)  # an AVX2 CPU
    code, _, err = run([*args, "--precision", "bf16", "--out", tmp_path / "a"], capsys)
    assert code == 2 and "no native bfloat16" in err and "Traceback" not in err
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)  # AVX512-BF16, AMX or a GPU
    assert run([*args, "--precision", "bf16", "--out", tmp_path / "b"], capsys)[0] == 0
    report = json.loads((tmp_path / "b" / "photo.json").read_text())
    assert report["settings"]["precision"] == "bf16"
    code, _, err = run([*args, "--precision", "fp16", "--out", tmp_path / "c"], capsys)
    assert code == 2 and "invalid choice" in err
