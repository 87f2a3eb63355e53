"""``--ray``: a folder restored or inspected on a local Ray cluster (started here, 2 CPUs) gives the
same files as the single-process run; a worker killed mid-run and a run interrupted and restarted
still end with every image done once; an error in one batch is recorded and the rest goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganprior.cli import main
from ganprior.distributed import Pool

try:
    import ray
except ImportError:  # pragma: no cover - `make test` installs the extra
    if os.environ.get("CI"):
        raise  # CI runs these tests, never skips them
    pytest.skip("the ray extra: pip install 'ganprior[ray]'", allow_module_level=True)

IMAGES = 5


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster on this machine for the module; yields its address (for a second driver)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def folder(tmp_path):
    """``IMAGES`` small photos of different content."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(IMAGES):
        Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def restore_args(folder: Path, model: Path, steps: int = 4) -> list[str]:
    return [
        "restore",
        str(folder),
        "--task",
        "inpaint",
        "--model",
        str(model),
        "--steps",
        str(steps),
        "--batch-size",
        "2",
    ]


def detect_args(folder: Path, steps: int) -> list[str]:
    """RGI anomaly maps of the folder with the bundled brick32 texture prior, 2 images per batch."""
    return [
        "detect",
        str(folder),
        "--model",
        "brick32",
        "--method",
        "rgi",
        "--steps",
        str(steps),
        "--batch-size",
        "2",
    ]


def same_outputs(a: Path, b: Path, images: int = IMAGES) -> None:
    """Every image file identical, every JSON report identical but for the timing and the run's own
    spreading options."""
    pngs = sorted(p.name for p in a.glob("*.png"))
    assert len(pngs) >= images and pngs == sorted(p.name for p in b.glob("*.png"))
    for name in pngs:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name

    def report(path: Path) -> dict:
        data = json.loads(path.read_text())
        data.pop("seconds_per_image")
        for key in ("ray", "workers", "out"):
            data.get("settings", {}).pop(key, None)
        return data

    for path in a.glob("p*.json"):
        assert report(path) == report(b / path.name), path.name
    entries = [json.loads((d / "manifest.json").read_text())["entries"] for d in (a, b)]
    assert entries[0] == entries[1] and all(e["status"] == "done" for e in entries[0].values())


def test_restore_on_ray_gives_the_single_process_files(cluster, folder, tiny_checkpoint, tmp_path):
    args = restore_args(folder, tiny_checkpoint)
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    assert main([*args, "--ray", cluster, "--workers", "2", "--out", str(tmp_path / "ray")]) == 0
    same_outputs(tmp_path / "single", tmp_path / "ray")


def test_detect_on_ray_gives_the_single_process_files(cluster, folder, tmp_path):
    args = detect_args(folder, steps=3)
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    assert main([*args, "--ray", cluster, "--out", str(tmp_path / "ray")]) == 0
    same_outputs(tmp_path / "single", tmp_path / "ray")
    csv = [(tmp_path / d / "report.csv").read_text() for d in ("single", "ray")]
    assert csv[0] == csv[1] and len(csv[0].splitlines()) == IMAGES + 1


def entries(out: Path) -> dict:
    try:
        return json.loads((out / "manifest.json").read_text())["entries"]
    except (OSError, ValueError, KeyError):
        return {}


def workers() -> list[int]:
    """The pids of this machine's ganprior Ray workers (Ray names an actor's process after its class)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"_Worker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def cli(args: list[str]) -> subprocess.Popen:
    """``ganprior ARGS`` as a second driver process (the test's own is the cluster's first)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ganprior.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the test could act on it"


def test_a_worker_killed_mid_run_is_replaced_and_every_image_is_done_once(
    cluster, folder, tiny_checkpoint, tmp_path
):
    if not sys.platform.startswith("linux"):
        pytest.skip("finds the worker processes in /proc")
    args = restore_args(folder, tiny_checkpoint, steps=300)
    out = tmp_path / "ray"
    proc = cli([*args, "--ray", cluster, "--workers", "1", "--out", str(out)])
    wait_for(lambda: len(entries(out)) >= 2, proc)  # one batch done, the next one on the worker
    victims = workers()  # the one busy worker (and any of an earlier pool still exiting)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    killed_at = len(entries(out))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert victims and killed_at < IMAGES and not set(victims) & set(workers())
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    same_outputs(tmp_path / "single", out)  # each image written once, by the driver, whole
    assert not list(out.glob("*.part")) and f"restored {IMAGES} image(s)" in stdout


def test_a_ray_run_interrupted_and_rerun_redoes_nothing(cluster, folder, tiny_checkpoint, tmp_path):
    args = restore_args(folder, tiny_checkpoint, steps=300)
    out = tmp_path / "ray"
    proc = cli([*args, "--ray", cluster, "--workers", "1", "--out", str(out)])
    wait_for(lambda: len(entries(out)) >= 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    done = entries(out)
    assert 2 <= len(done) < IMAGES and not list(out.glob("*.part"))
    written = {name: (out / name).stat().st_mtime_ns for e in done.values() for name in e["outputs"]}
    rerun = cli([*args, "--ray", cluster, "--out", str(out)])
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and f"({len(done)} done before, kept)" in stdout, stderr
    assert all((out / name).stat().st_mtime_ns == t for name, t in written.items())
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    same_outputs(tmp_path / "single", out)


def test_an_error_in_one_batch_is_reported_and_the_others_finish(cluster):
    def work(offset: int, payload: int) -> int:
        if payload == 2:
            raise ValueError("a damaged batch")
        return offset + payload

    results, errors = {}, {}
    with Pool(cluster, lambda: 100, workers=2) as pool:
        pool.map(work, [0, 1, 2, 3], results.__setitem__, errors.__setitem__)
    assert results == {0: 100, 1: 101, 3: 103}
    assert list(errors) == [2] and isinstance(errors[2], ValueError) and "damaged" in str(errors[2])


def test_a_failed_image_is_retried_by_the_next_run(folder, tiny_checkpoint, tmp_path, capsys):
    args = [*restore_args(folder, tiny_checkpoint), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    manifest = tmp_path / "out" / "manifest.json"
    stored = json.loads(manifest.read_text())
    stored["entries"]["p3"] |= {
        "status": "failed",
        "error": "RuntimeError: the worker's GPU fell off the bus",
    }
    manifest.write_text(json.dumps(stored))
    capsys.readouterr()
    assert main(args) == 0
    assert "restored 1 image(s)" in capsys.readouterr().out
    assert json.loads(manifest.read_text())["entries"]["p3"]["status"] == "done"


def test_detect_resumes_a_folder(folder, tmp_path, capsys):
    args = [*detect_args(folder, steps=2), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    out = tmp_path / "o"
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("p*.png")}
    (out / "p1_mask.png").unlink()
    capsys.readouterr()
    assert main(args) == 0
    assert f"({IMAGES - 1} done before, kept)" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("p*.png")}
    assert {n for n in after if after[n] != before.get(n)} == {"p1_heatmap.png", "p1_mask.png"}
    assert len((out / "report.csv").read_text().splitlines()) == IMAGES + 1
    assert main([*args, "--steps", "3"]) == 2  # other settings into the same folder


def test_ray_missing_is_one_line(folder, tiny_checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main([*restore_args(folder, tiny_checkpoint), "--ray", "--out", str(tmp_path / "o")])
    assert code == 2 and "pip install 'ganprior[ray]'" in capsys.readouterr().err


def test_an_input_taken_for_the_ray_address_is_refused(folder, tiny_checkpoint, tmp_path, capsys):
    args = ["restore", "--ray", str(folder), "--task", "denoise", "--model", str(tiny_checkpoint)]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "put --ray after the inputs" in capsys.readouterr().err and not (tmp_path / "o").exists()
