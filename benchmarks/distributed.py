"""A folder on Ray workers (``ganprior restore --ray``) against the single-process batched run, on a
local Ray cluster of this machine's 2 CPUs (table ``distributed_restore``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganprior import examples
from ganprior.checkpoint import save_prior
from ganprior.errors import GanpriorError
from ganprior.imageio import save_image

from .common import BenchOptions, Suite, Table, resources

TABLE = "distributed_restore"
MODEL = "face64"
CPUS = 2


def _command(args: list[str], threads: int) -> tuple[float, float, str]:
    """Run ``ganprior ARGS`` in a fresh process with ``threads`` OpenMP threads: (wall seconds of the
    command, seconds of its run as it reports them, stdout)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ganprior.cli", *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"ganprior {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    run = re.search(r"restored \d+ image\(s\) with \w+ in ([0-9.]+) s", done.stdout)
    return wall, float(run.group(1)) if run else float("nan"), done.stdout


def _pixels(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p), dtype=np.int16) for p in sorted(folder.glob("*_restored.png"))}


def distributed_suite(options: BenchOptions) -> list[Table]:
    """Images/s of `ganprior restore DIR` in one process and on 1 and 2 local Ray workers."""
    try:
        import ray
    except ImportError as exc:
        raise GanpriorError("this suite needs Ray: pip install 'ganprior[ray]'") from exc
    n, steps, batch = (4, 3, 2) if options.quick else (32, 100, 8)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prior = resources().model(MODEL, "cpu")
        model = root / "model.safetensors"
        save_prior(model, prior)
        for i, image in enumerate(examples.prior_samples(prior, n, options.seed)):
            save_image(image, root / "in" / f"face{i:03d}.png")
        base = ["restore", str(root / "in"), "--task", "denoise", "--simulate", "--model", str(model)]
        base += ["--steps", str(steps), "--batch-size", str(batch), "--seed", str(options.seed)]
        batches = -(-n // batch)

        def row(mode: str, workers: int | str, threads: int, out: str, extra: list[str]) -> dict[str, Any]:
            wall, run, _ = _command([*base, *extra, "--out", str(root / out)], threads)
            return {
                "mode": mode,
                "workers × threads": f"{workers} × {threads}",
                "images": n,
                "batches": batches,
                "run s": run,
                "images/s (run)": n / run,
                "command s": wall,
            }

        rows.append(row("one process", 1, 1, "single1", []))
        rows.append(row("one process", 1, CPUS, "single2", []))
        started = time.perf_counter()
        ray.init(num_cpus=CPUS, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
        cluster_s = time.perf_counter() - started
        try:
            address = ray.get_runtime_context().gcs_address
            for workers in (1, CPUS):
                extra = ["--ray", address, "--workers", str(workers)]
                rows.append(row("Ray, local cluster", workers, CPUS // workers, f"ray{workers}", extra))
        finally:
            ray.shutdown()
        reference = _pixels(root / "single1")
        for r, out in zip(rows, ["single1", "single2", "ray1", f"ray{CPUS}"], strict=True):
            found = _pixels(root / out)
            assert found.keys() == reference.keys(), out
            r["max Δ level vs one process, 1 thread"] = max(
                int(np.abs(found[k] - reference[k]).max()) for k in reference
            )
    two_threads, one_worker = rows[1]["run s"], rows[2]["run s"]
    protocol = (
        f"`ganprior restore` of a folder of {n} {MODEL} samples (denoise, --simulate, invert, {steps} steps, "
        f"--batch-size {batch}: {batches} batches), each command in a fresh process. 'run s' is the run as "
        "the command reports it (model already loaded in the driver; for Ray it includes starting the "
        "workers, each loading the model once, and sending every batch and its outputs through Ray's "
        "object store); 'command s' adds Python, torch and the driver's model load. The Ray cluster "
        f"(`ray.init(num_cpus={CPUS})`, {cluster_s:.1f} s to start, not counted) is started once and each "
        "command joins it by address. Timed on this shared 2-core CPU, so compare rows within this run. "
        f"Ray's cost over one process with the same 2 threads: {one_worker - two_threads:+.1f} s for "
        f"{batches} batches ({(one_worker - two_threads) / batches:+.2f} s per batch, worker start "
        "included). 'max Δ level': the largest difference of a restored PNG's 0-255 levels from the "
        "one-process, one-thread run (0: the same files)."
    )
    return [
        Table(
            TABLE,
            "Many images: one process against Ray workers",
            protocol,
            rows,
            {"cluster_start_s": cluster_s},
        )
    ]


SUITES = [Suite("distributed", distributed_suite, (TABLE,))]
