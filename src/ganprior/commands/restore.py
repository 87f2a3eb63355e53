"""``ganprior restore``: restore image files or folders with a GAN prior."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from ..batching import CPU_BATCH, batches
from ..distributed import Pool
from ..errors import GanpriorError
from ..imageio import FITS, MASK_FILLS, collect_images, load_images
from ..manifest import MANIFEST, Manifest
from ..outputs import write_outputs
from ..paste import in_frame
from ..physics import TASK_HELP, TASKS
from ..pipeline import (
    Observed,
    Restoration,
    drawn_mask,
    load_observations,
    observe,
    resolve_config,
    solve,
    solve_batch,
)
from ..report import output_stems, write_json
from ..solvers import METHODS, SolverConfig
from ..solvers.precision import PRECISIONS
from . import COMMANDS
from .common import (
    add_model_arguments,
    add_ray_arguments,
    batch_or_auto,
    driver_model,
    exit_status,
    for_workers,
    integer,
    number,
    parse_options,
    record_failures,
    run_settings,
    seed_type,
    steps_type,
    worker_model,
)


def register(sub: argparse._SubParsersAction) -> None:
    tasks = "\n".join(f"  {t:9s} {h}" for t, h in TASK_HELP.items())
    methods = "\n".join(f"  {m.name:9s} {m.help}" for m in METHODS.values())
    parser = sub.add_parser(
        "restore",
        help=COMMANDS["restore"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Restore degraded images with a GAN prior. Each image is fitted to the model (centre crop to a\n"
            "square, Lanczos resize to the model's resolution, converted to its channels).\n\n"
            f"tasks:\n{tasks}\n\nmethods:\n{methods}\n\n"
            "Without --simulate the inputs are the degraded observations: for sr they are the low-resolution\n"
            "images (fitted to resolution / factor), for colorize they are made gray. With --simulate the\n"
            "inputs are clean: the degradation is applied first (seeded) and metrics are reported."
        ),
        epilog=(
            "examples:\n"
            "  ganprior restore photo.jpg --task inpaint --mask hole.png --out restored/\n"
            "  ganprior restore faces/ --task sr --factor 4 --simulate --out sr-test/\n"
            "outputs per image: NAME_restored.png, NAME_raw.png (generator output), NAME_observation.png,\n"
            "NAME_compare.png (side by side) and NAME.json (settings, loss curve, timings, metrics);\n"
            "--task reconstruct adds NAME_latent.safetensors, which `ganprior edit ACTION NAME_latent.safetensors`\n"
            "edits without fitting the image again."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--method", default="invert", help=f"one of: {', '.join(METHODS)} (default invert)")
    add_model_arguments(parser)
    parser.add_argument(
        "--mask",
        help="inpainting mask PNG at the input's size or the model's: black = fill, white = known (see "
        "--mask-fill) "
        "(default: a centred square hole of 1/3 the side); with --method rgi/rrgi the mask is not given to "
        "the solver: it only says where --simulate corrupts the image (omit it for real corrupted inputs)",
    )
    parser.add_argument(
        "--fit",
        choices=FITS,
        default="crop",
        help="how a non-square photo is fitted to the model's square: crop (the centre square, default) or "
        "pad (the whole photo, its edges repeated); the result is put back at the photo's own size "
        "(NAME_restored.png; the model's own output is NAME_raw.png)",
    )
    parser.add_argument(
        "--mask-fill",
        choices=MASK_FILLS,
        default="black",
        help="the colour that marks the area to fill (default black: ganprior's and DGP's convention; "
        "white for masks made for LaMa, OpenCV's inpaint or diffusers). A mask that fills more than half "
        "the image gets a warning; grey levels are thresholded at 50%%",
    )
    parser.add_argument(
        "--factor", type=integer(1), default=4, help="super-resolution factor (sr, hybrid; default 4)"
    )
    parser.add_argument(
        "--sigma", type=number(0, 1), default=0.1, help="noise std in [0, 1] units (denoise; default 0.1)"
    )
    parser.add_argument("--steps", type=steps_type, help="optimisation steps (default: the method's preset)")
    parser.add_argument(
        "--seed", type=seed_type, default=0, help="seed of the initial latents and the simulation"
    )
    parser.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the method, repeatable, e.g. --method-option codes=20 --method-option layer=2 (mgan), --method-option closing=3 (rgi, rrgi), --method-option refit_steps=600 (rgi), --method-option restarts=1 (invert, rgi, rrgi: starts per image, the best fit kept; rrgi's inpainting preset takes 3; holdout_strokes=2 scores them on strokes held out of the fit)",
    )
    parser.add_argument(
        "--batch-size",
        type=batch_or_auto,
        default=16,
        help="images solved at once (default 16), or auto: the largest batch that fits the GPU's free memory "
        "(16 on a CPU); a batch that runs out of memory is halved and the run goes on",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="bf16: run the generator under bfloat16 autocast with channels_last weights, where the device "
        "computes bf16 natively (GPUs; CPUs with AVX512-BF16 or AMX: face64 inversion 1.9x faster on one, "
        "PSNR within 0.1 dB in the median; refused elsewhere, where it is tens of times slower); outputs "
        "stay float32 (default fp32)",
    )
    parser.add_argument(
        "--simulate", action="store_true", help="inputs are clean: degrade them first, report metrics"
    )
    parser.add_argument(
        "--reference",
        nargs="+",
        metavar="CLEAN",
        help="clean images (files or a folder, in the same order as the inputs) for metrics",
    )
    parser.add_argument(
        "--out", required=True, help="output folder (must be new or empty unless --overwrite)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="write into a non-empty --out, replacing files"
    )
    add_ray_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.method not in METHODS:
        raise GanpriorError(f"unknown method {args.method!r}; choose one of {', '.join(METHODS)}")
    options = METHODS[args.method].config.parse_overrides(
        parse_options(args.method_option, "--method-option")
    )
    if args.simulate and args.reference:
        raise GanpriorError("--simulate uses the inputs as references; drop --reference")
    paths = collect_images(args.inputs)
    references = collect_images(args.reference) if args.reference else None
    if references is not None and len(references) != len(paths):
        raise GanpriorError(
            f"{len(paths)} inputs but {len(references)} references; give one reference per input"
        )
    stems, renamed = output_stems(paths)
    read = [*args.inputs, *(args.reference or []), *([args.mask] if args.mask else [])]
    manifest = Manifest.open(args.out, run_settings(args), args.overwrite, read)  # checked before any work
    out, todo = manifest.folder, manifest.todo(paths, stems)
    if not todo:
        print(f"nothing to do: all {len(paths)} image(s) are done in {out} ({MANIFEST})")
        return 0
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "run"}
    if args.ray is not None:
        args = for_workers(args)
    prior = driver_model(args)
    g = prior.generator
    mask, mask_info, photo_known = None, None, None
    if args.mask:
        drawn = drawn_mask(args.mask, paths, g.resolution, args.task, args.mask_fill, args.fit)
        for warning in drawn.warnings():
            print(f"ganprior restore: warning: {warning}", file=sys.stderr)
        mask, mask_info = drawn.known, {"file": str(args.mask), **drawn.describe()}
        photo_known = drawn.known_at_photo_size
    if args.simulate:
        images = load_images(paths, g.resolution, g.channels, args.fit)
    else:
        images = load_observations(paths, prior, args.task, mask, args.factor, args.sigma, args.fit)
    reference = load_images(references, g.resolution, g.channels, args.fit) if references else None
    config = resolve_config(prior, args.task, args.method, args.steps, args.seed, options)
    reference_images = images if args.simulate else reference
    observed = observe(
        prior,
        images,
        args.task,
        args.method,
        simulate=args.simulate,
        reference=reference,
        mask=mask,
        factor=args.factor,
        sigma=args.sigma,
        seed=args.seed,
    ).select(todo)
    by_step = args.ray is None and bool(config.steps)  # a Ray run counts whole batches
    bar = tqdm(
        total=len(todo) * config.total_steps() if by_step else len(todo),
        desc=f"{args.method} {args.task}",
        unit="step" if by_step else "image",
        dynamic_ncols=True,
        disable=None,
    )
    started = time.perf_counter()
    done: list[Path] = []
    failed: list[Path] = []

    def write_batch(index: list[int], part: Restoration) -> None:
        seconds = (time.perf_counter() - started) / (len(done) + len(index))
        for j, i in enumerate(todo[k] for k in index):
            reference_image = reference_images[i] if reference_images is not None else None
            # inputs given as observations come back at the photo's own size; simulated ones at the model's
            framed = (
                None
                if args.simulate
                else in_frame(paths[i], part, j, args.task, args.fit, args.factor, photo_known)
            )
            names = write_outputs(
                out, paths[i], stems[i], part, j, prior, settings, mask_info, reference_image, seconds, framed
            )
            manifest.record(stems[i], paths[i], names)
            done.append(paths[i])
        if not by_step:
            bar.update(len(index))
        bar.set_postfix(images=f"{len(done)}/{len(todo)}")

    def fail_batch(index: list[int], error: BaseException) -> None:
        inputs = [todo[k] for k in index]
        record_failures(manifest, "restore", [paths[i] for i in inputs], [stems[i] for i in inputs], error)
        failed.extend(paths[i] for i in inputs)
        bar.update(len(index))

    try:
        if args.ray is None:
            result = solve(
                prior,
                observed,
                args.method,
                config,
                args.batch_size,
                callback=_per_batch(bar, args, done, todo),
                on_batch=write_batch,
                precision=args.precision,
            )
            metrics = result.metrics
        else:
            metrics = _on_ray(args, observed, config, write_batch, fail_batch)
    except KeyboardInterrupt:
        bar.close()
        left = [str(paths[i]) for i in todo if paths[i] not in done]
        write_json(
            {"interrupted": True, "done": [str(p) for p in done], "not_done": left}, out / "report.json"
        )
        print(
            f"interrupted: {len(done)} of {len(todo)} image(s) restored -> {out} (see report.json); "
            "the same command again finishes the rest",
            file=sys.stderr,
        )
        raise
    bar.close()
    seconds = time.perf_counter() - started
    summary = (
        f"restored {len(done)} image(s) with {args.method} in {seconds:.1f} s "
        f"({seconds / len(todo):.2f} s/image) -> {out}"
    )
    if len(todo) < len(paths):
        summary += f" ({len(paths) - len(todo)} done before, kept)"
    if metrics:
        summary += "; median " + ", ".join(f"{k} {v.median():.2f}" for k, v in metrics.items())
    if renamed:
        summary += f"; {len(renamed)} name(s) taken by an earlier input, written as: " + ", ".join(renamed)
    print(summary)
    return exit_status("restore", len(failed), manifest)


def _per_batch(bar: tqdm, args: argparse.Namespace, done: list[Path], todo: list[int]):
    """``solve``'s callback: the progress bar's description per batch, its count per step."""

    def per_batch(index: int, count: int):
        bar.set_description(f"{args.method} {args.task} batch {index + 1}/{count}")

        def on_step(step: int, losses: torch.Tensor) -> None:
            bar.update(len(losses) if bar.total else 1)
            if step % 10 == 0:
                bar.set_postfix(images=f"{len(done)}/{len(todo)}", loss=f"{losses.mean():.4f}")

        return on_step

    return per_batch


def _on_ray(
    args: argparse.Namespace,
    observed: Observed,
    config: SolverConfig,
    write_batch: Callable[[list[int], Restoration], None],
    fail_batch: Callable[[list[int], BaseException], None],
) -> dict[str, torch.Tensor]:
    """The ``observed`` images in batches of ``--batch-size`` (auto: ``CPU_BATCH`` per task, each
    worker then fits its batch to its device) on Ray workers; each finished batch is written by
    ``write_batch`` in the driver, a failed one recorded by ``fail_batch``. Returns the metrics of
    the images done, in input order."""
    parts = batches(len(observed.observation), args.batch_size or CPU_BATCH)
    work = partial(
        solve_batch,
        method=args.method,
        config=config,
        batch_size=args.batch_size,
        precision=args.precision,
        generator_state=args.task == "reconstruct",  # what `ganprior edit` starts from
    )
    metrics: dict[int, dict[str, torch.Tensor]] = {}  # per finished batch: only what the summary needs

    def on_result(k: int, part: Restoration) -> None:
        write_batch(parts[k], part)
        metrics[k] = part.metrics

    with Pool(args.ray, partial(worker_model, args), args.workers) as pool:
        pool.map(work, [observed.select(b) for b in parts], on_result, lambda k, e: fail_batch(parts[k], e))
    names = {name for batch in metrics.values() for name in batch}
    return {n: torch.cat([metrics[k][n] for k in sorted(metrics)]) for n in names}
