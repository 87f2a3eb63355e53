"""Suite ``dgp`` and its parts: DGP against plain inversion and DIP, its ablations, its schedules, its batching.

Tables (``benchmarks/results/dgp_*``):
- ``dgp_restoration``: every model with held-out real images — fashion32 and emoji64 (their test
  splits) when they are in the zoo, face64 on real LFW face photographs — × tasks × methods;
- ``dgp_ablation``: DGP, without the progressive schedule (all groups at once), without the
  discriminator loss (MSE only), without generator fine-tuning; D-biased vs MSE-biased ×4 SR;
- ``dgp_schedules``: the reference schedules and the scaled ones that ran;
- ``dgp_speed``: batched DGP on 16 images against batch-1 DGP, and how far apart their results are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from ganprior import edit, examples
from ganprior.checkpoint import Prior
from ganprior.classifier import load_classifier
from ganprior.defense import dgp_defense, dip_defense, fgsm, invert_defense, pgd
from ganprior.features import default_metric
from ganprior.physics import build_operator
from ganprior.pipeline import measure
from ganprior.schedule import REFERENCE, Schedule
from ganprior.solvers.dgp import (
    ITERATIONS_SCALE,
    LR_G_SCALE,
    LR_Z_SCALE,
    DGPConfig,
    dgp,
    parameter_groups,
    task_schedule,
)

from .common import (
    BenchOptions,
    Suite,
    Table,
    free_form_mask,
    median_scores,
    resources,
    restoration_rows,
    test_split,
)

PROTOCOL = (
    "Each clean test image is degraded by the task's seeded simulation (inpaint: centred hole of 1/3 the side; "
    "inpaint-ff: the seeded free-form stroke mask; sr: ×4 antialiased bicubic; colorize: ITU-R 601 luma; hybrid: "
    "hole + gray (RGB models) + ×4), restored, projected onto the observation (known pixels / luminance kept), and "
    "compared with the clean image on [0, 1] intensities: median PSNR/SSIM over the images; psnr_hole/ssim_hole on "
    "the hole only (DGP's protocol). s/image = wall time / images of a batched run, on a CPU shared with other "
    "jobs (timings are contended; compare within one table only)."
)


@dataclass
class Subject:
    """A model and its held-out real test images (N, C, H, W) in [-1, 1]."""

    prior: Prior
    data: str
    images: Tensor
    tasks: tuple[str, ...]
    methods: tuple[str, ...]


def test_images(name: str, count: int, seed: int) -> tuple[str, Tensor]:
    """``count`` held-out images for zoo model ``name``: a seeded draw from its dataset's test split at
    the model's resolution and channels (face64: LFW photographs fitted to it)."""
    if name == "face64":
        prior = resources().model("face64", "cpu")
        return "LFW real faces (gray)", examples.fit_to_prior(
            [img for _, img in resources().lfw_faces(count)], prior
        )
    dataset = {"fashion32": "fashion-mnist", "emoji64": "emoji"}[name]
    card = next(c for c in resources().model_cards() if c["name"] == name)
    data = test_split(dataset, card["resolution"], card["channels"])
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    return f"{dataset} test split", data.images[index]


PLAN = {  # model: (images, tasks, methods)
    "fashion32": (8, ("inpaint", "inpaint-ff", "sr", "hybrid"), ("invert", "dip", "dgp")),
    "emoji64": (6, ("inpaint", "inpaint-ff", "sr", "colorize", "hybrid"), ("invert", "dip", "dgp")),
    "face64": (4, ("inpaint", "inpaint-ff", "sr", "hybrid"), ("invert", "dip", "dgp")),
}


def in_zoo(names: Sequence[str] = tuple(PLAN)) -> list[str]:
    """The models among ``names`` that are in the zoo (the trained ones may be missing)."""
    known = {card["name"] for card in resources().model_cards()}
    return [name for name in names if name in known]


def subjects(options: BenchOptions, names: Sequence[str] = tuple(PLAN)) -> list[Subject]:
    """The models among ``names`` that are in the zoo, with their test images and tasks."""
    out = []
    for name in in_zoo(names):
        count, tasks, methods = PLAN[name]
        data, images = test_images(name, 2 if options.quick else count, options.seed)
        out.append(Subject(resources().model(name, options.device), data, images, tasks, methods))
    return out


def _task(task: str, resolution: int, seed: int) -> tuple[str, Tensor | None]:
    """Benchmark task name -> (pipeline task, mask or None)."""
    return ("inpaint", free_form_mask(resolution, seed)) if task == "inpaint-ff" else (task, None)


def restoration_name(model: str) -> str:
    return f"dgp_restoration_{model}"


def restoration_table(s: Subject, options: BenchOptions) -> Table:
    rows = []
    for task in s.tasks:
        base, mask = _task(task, s.prior.generator.resolution, options.seed)
        steps = 20 if options.quick else None
        found = restoration_rows(s.prior, s.data, s.images, [base], s.methods, steps, options.seed, mask)
        rows += [r | {"task": task} for r in found]
    return Table(
        restoration_name(s.prior.name),
        f"DGP vs plain inversion vs DIP on held-out real images ({s.prior.name}, {s.data})",
        PROTOCOL
        + " Presets: inversion 600 Adam steps (best-of-500 start); DIP ≤ 600 steps with ES-WMV early stopping; DGP "
        "the task's reference schedule scaled as in dgp_schedules, D features (VGG16 for face64, which has no D).",
        rows,
    )


def ablations(schedule: Schedule) -> dict[str, Schedule]:
    """DGP and the paper's ablations of it."""
    return {
        "dgp": schedule,
        "no progressive (all groups at once)": schedule.each(depth=None),
        "no discriminator loss (MSE only)": replace(
            schedule, stages=tuple(replace(s, w_feature=0.0, w_mse=s.w_mse or 1.0) for s in schedule.stages)
        ),
        "no generator fine-tuning": schedule.each(depth=0),
    }


def variant_row(
    prior: Prior, clean: Tensor, task: str, schedule: Schedule, seed: int, mask: Tensor | None = None
) -> dict[str, Any]:
    """Median metrics of DGP with ``schedule`` on ``clean`` images degraded by ``task``."""
    g = prior.generator
    operator = build_operator(task, g.resolution, g.channels, mask=mask)
    observation = operator.simulate(clean, torch.Generator().manual_seed(seed))
    started = time.perf_counter()
    result = dgp(g, observation, operator, schedule, default_metric(prior), DGPConfig(seed=seed))
    seconds = (time.perf_counter() - started) / len(clean)
    scores = measure(operator.project(result.image, observation).clamp(-1, 1), clean, operator)
    return median_scores(scores) | {"s/image": seconds}


def ablation_table(subject: Subject, options: BenchOptions) -> Table:
    g = subject.prior.generator
    rows = []
    shrink: Callable[[Schedule], Schedule] = (lambda s: s.with_total(20)) if options.quick else (lambda s: s)
    for task in ("inpaint", "sr"):
        variants = ablations(shrink(task_schedule(task, g)))
        for name, schedule in variants.items():
            label = {"model": subject.prior.name, "task": task, "variant": name}
            if name != "dgp" and schedule == variants["dgp"]:  # e.g. inpainting is not progressive anyway
                rows.append(label | {"psnr (median)": "= dgp (the preset already has this schedule)"})
                continue
            rows.append(label | variant_row(subject.prior, subject.images, task, schedule, options.seed))
    mse_biased = task_schedule("sr-mse", g)
    row = variant_row(subject.prior, subject.images, "sr", shrink(mse_biased), options.seed)
    rows.append({"model": subject.prior.name, "task": "sr", "variant": "MSE-biased SR schedule"} | row)
    return Table(
        "dgp_ablation",
        f"DGP ablations ({subject.prior.name}, {subject.data}, {len(subject.images)} images)",
        PROTOCOL
        + " Variants change only the schedule: depth = all groups from the first stage (no progressive), w_feature = 0 "
        "with w_mse >= 1 (MSE only), depth = 0 (latent only, with DGP's losses and latent search). The MSE-biased SR "
        "schedule weights MSE 10…100 against the feature loss 1…0.1 (sharper vs. higher PSNR, as in the paper).",
        rows,
    )


def schedules_table(items: Sequence[Subject]) -> Table:
    """The reference schedules next to the scaled ones our models ran."""
    listed = [("reference (BigGAN-128, 7 groups)", REFERENCE)]
    listed += [
        (
            f"{s.prior.name} ({len(parameter_groups(s.prior.generator))} groups)",
            {t: task_schedule(t, s.prior.generator) for t in REFERENCE},
        )
        for s in items
    ]
    rows = [
        {"schedule": label, "task": task}
        | {k: f"{v:g}" if isinstance(v, float) else v for k, v in row.items()}
        for task in REFERENCE
        for label, schedules in listed
        for row in schedules[task].rows()
    ]
    return Table(
        "dgp_schedules",
        "DGP schedules: the reference's and the scaled ones that ran",
        f"Scaling: iterations × {ITERATIONS_SCALE}, lr_z × {LR_Z_SCALE}, lr_g × {LR_G_SCALE}; the reference unfreezes "
        "2…6 of BigGAN's 7 parameter groups (embedding + blocks + output), mapped to 1/5…5/5 of ours "
        "(depth = trainable groups, shallowest first; empty = all). w_nll weighs mean(z²/2).",
        rows,
    )


def speed_table(subject: Subject, options: BenchOptions) -> Table:
    """Batched DGP on N images vs the same schedule one image at a time."""
    g = subject.prior.generator
    clean = subject.images
    schedule = task_schedule("inpaint", g, 10 if options.quick else 60)
    operator = build_operator("inpaint", g.resolution, g.channels)
    observation = operator(clean)
    metric, config = default_metric(subject.prior), DGPConfig(init_samples=50, seed=options.seed)

    def timed(index: list[int]) -> tuple[Tensor, float, float]:
        """Images of a solve of ``index``, its wall and its CPU (process) seconds, after an untimed
        3-iteration solve of the same shapes (one-off set-up: oneDNN kernels, first allocations)."""
        observed, op = observation[index], operator.select(index)
        dgp(g, observed, op, schedule.with_total(3), metric, config)
        wall, cpu = time.perf_counter(), time.process_time()
        result = dgp(g, observed, op, schedule, metric, config)
        return result.image, time.perf_counter() - wall, time.process_time() - cpu

    n = len(clean)
    common = {"model": subject.prior.name, "images": n, "iterations": schedule.iterations}
    available = torch.get_num_threads()
    rows, walls = [], {}
    for threads in sorted({1, available}):
        torch.set_num_threads(threads)
        batched, b_wall, b_cpu = timed(list(range(n)))
        singles = [timed([i]) for i in range(n)]
        s_wall, s_cpu = sum(r[1] for r in singles), sum(r[2] for r in singles)
        delta = (batched - torch.cat([r[0] for r in singles])).abs()
        walls[threads] = (s_wall, b_wall)
        at = common | {"threads": threads}
        rows += [
            at
            | {"mode": "batch 1, one image at a time", "wall s/image": s_wall / n, "CPU s/image": s_cpu / n},
            at | {"mode": f"batched ({n} at once)", "wall s/image": b_wall / n, "CPU s/image": b_cpu / n},
            at
            | {
                "mode": "speed-up (batch 1 / batched)",
                "wall s/image": s_wall / b_wall,
                "CPU s/image": s_cpu / b_cpu,
                "max |Δ pixel|": float(delta.max()),
                "median |Δ pixel|": float(delta.median()),
            },
        ]
    torch.set_num_threads(available)
    single_threads = min(walls, key=lambda t: walls[t][0])
    batched_threads = min(walls, key=lambda t: walls[t][1])
    rows.append(
        common
        | {
            "threads": f"{single_threads} vs {batched_threads}",
            "mode": "speed-up, each mode at its fastest thread count",
            "wall s/image": walls[single_threads][0] / walls[batched_threads][1],
        }
    )
    return Table(
        "dgp_speed",
        "Batched DGP (N generator copies under vmap) vs batch-1 DGP",
        "Same images (inpainting, centred hole), schedule, latent search (best of 50) and seed; each mode warmed up "
        "by an untimed 3-iteration solve of its shapes (the first solve in a process pays ~1 s of one-off set-up); "
        "the whole solve on 1 thread and on all the threads torch uses here: wall seconds and CPU seconds of this "
        "process. Results differ between the modes only by float rounding (exactly 0 on 1 thread; with more threads "
        "the reductions run in another order, and DGP's Adam with β1 = 0 takes sign-like steps that amplify it in a "
        "few pixels).",
        rows,
    )


def main_subject(options: BenchOptions, count: int | None = None) -> Subject:
    """The first model with a discriminator (fashion32, then emoji64), else face64; ``count`` test
    images (the same seeded draw as its ``PLAN`` images, extended or cut), by default the plan's."""
    items = subjects(options)
    main = next((s for s in items if s.prior.discriminator is not None), items[-1])
    return (
        main if count is None else replace(main, images=test_images(main.prior.name, count, options.seed)[1])
    )


def restoration_suite(name: str) -> Callable[[BenchOptions], list[Table]]:
    def suite(options: BenchOptions) -> list[Table]:
        return [restoration_table(s, options) for s in subjects(options, [name])]

    suite.__doc__ = f"DGP vs inversion vs DIP with {name} on held-out real images"
    return suite


def ablation_suite(options: BenchOptions) -> list[Table]:
    """DGP ablations (no progressive, no D loss, no G fine-tuning; MSE-biased SR) and its schedules."""
    return [schedules_table(subjects(options)), ablation_table(main_subject(options, 8), options)]


def speed_suite(options: BenchOptions) -> list[Table]:
    """Batched DGP on 16 images vs batch-1 DGP: time per image and result difference."""
    return [speed_table(main_subject(options, 4 if options.quick else 16), options)]


def dgp_suite(options: BenchOptions) -> list[Table]:
    """DGP's tables: DGP vs inversion vs DIP on held-out real images, ablations, schedules, batching."""
    tables = ablation_suite(options) + speed_suite(options)
    return tables + [restoration_table(s, options) for s in subjects(options)]


def labelled_test_images(count: int, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded draw of ``count`` Fashion-MNIST test images (N, 1, 32, 32) and their labels (N,)."""
    data = test_split("fashion-mnist", 32, 1)
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    assert data.labels is not None
    return data.images[index], data.labels[index]


def _in_batches(fn: Callable[[Tensor, int], Tensor], x: Tensor, size: int) -> Tensor:
    return torch.cat([fn(chunk, b) for b, chunk in enumerate(x.split(size))])


def defense_suite(options: BenchOptions) -> list[Table]:
    """Adversarial defense on fashion32 (the paper's Table 5): clean, FGSM, PGD, and reconstructions."""
    prior = resources().model("fashion32", options.device)
    classifier = load_classifier("fashion32")
    count = 16 if options.quick else 500
    x, labels = labelled_test_images(count, options.seed + 1)
    eps, step, steps = 0.1, 0.01, 3 if options.quick else 20
    attacks = {
        "FGSM": _in_batches(
            lambda c, b: fgsm(classifier, c, labels[b * 100 : b * 100 + len(c)], eps), x, 100
        ),
        "PGD": _in_batches(
            lambda c, b: pgd(
                classifier,
                c,
                labels[b * 100 : b * 100 + len(c)],
                eps,
                step,
                steps,
                torch.Generator().manual_seed(b),
            ),
            x,
            100,
        ),
    }
    iters = (10, 10, 10) if options.quick else (150, 100, 60)
    defenses = {
        "plain inversion (DefenseGAN-like)": invert_defense(iters[0]),
        "DIP": dip_defense(iters[1]),
        "DGP": dgp_defense(iters[2]),
    }

    def accuracy(images: Tensor) -> float:
        return float((classifier.predict(images)[0] == labels[: len(images)]).float().mean())

    rows = [{"input": "clean images", "attack": "none", "images": count, "top-1 accuracy": accuracy(x)}]
    rows += [
        {"input": "attacked, undefended", "attack": a, "images": count, "top-1 accuracy": accuracy(v)}
        for a, v in attacks.items()
    ]
    for name, defense in defenses.items():
        started = time.perf_counter()
        restored = _in_batches(lambda c, b, d=defense: d(prior, c, options.seed + b), attacks["PGD"], 50)
        rows.append(
            {
                "input": f"PGD, defended by {name}",
                "attack": "PGD",
                "images": count,
                "top-1 accuracy": accuracy(restored),
                "s/image": (time.perf_counter() - started) / count,
            }
        )
    return [
        Table(
            "dgp_defense",
            f"Adversarial defense by reconstruction (fashion32, {count} Fashion-MNIST test images)",
            f"Classifier: the project's fashion32 classifier (ganprior/pretrained/classifiers). Attacks are white-box on "
            f"the classifier alone, L∞ eps = {eps} in [0, 1] units: FGSM (one step) and PGD ({steps} steps of {step}, "
            f"random start). Defenses reconstruct the PGD image, then classify the reconstruction: plain inversion "
            f"({iters[0]} Adam steps, best-of-500 start, MSE), DIP ({iters[1]} steps, min-variance output), DGP (the denoising "
            f"preset rescaled to {iters[2]} iterations, D features + MSE). Seeded draw of the test split (seed "
            f"{options.seed + 1}); s/image on a CPU shared with other jobs.",
            rows,
        )
    ]


def transfer_suite(options: BenchOptions) -> list[Table]:
    """Category transfer on fashion32: how often the project's classifier sees the target class."""
    prior = resources().model("fashion32", options.device)
    classifier = load_classifier("fashion32")
    count = 4 if options.quick else 20
    x, labels = labelled_test_images(count, options.seed + 2)
    rec = edit.reconstruct(prior, x, 10 if options.quick else None, options.seed)
    k = prior.generator.num_classes
    rendered = edit.transfer(prior, rec, list(range(k)))  # (N, K, C, H, W)
    predicted = classifier.predict(rendered.flatten(0, 1))[0].view(count, k)
    target = torch.arange(k).expand(count, k)
    other = target != rec.classes.argmax(1, keepdim=True)  # type: ignore[union-attr]
    hits = (predicted == target) & other
    names = prior.card.get("classes") or [str(c) for c in range(k)]
    rows = [
        {
            "target class": names[c],
            "transfers": int(other[:, c].sum()),
            "labelled as target": float(hits[:, c].sum() / other[:, c].sum().clamp_min(1)),
        }
        for c in range(k)
    ]
    rows.append(
        {
            "target class": "all",
            "transfers": int(other.sum()),
            "labelled as target": float(hits.sum() / other.sum()),
        }
    )
    rows.append(
        {
            "target class": "(reconstruction's class = true label)",
            "transfers": count,
            "labelled as target": float((rec.classes.argmax(1) == labels).float().mean()),
        }
    )  # type: ignore[union-attr]
    return [
        Table(
            "dgp_transfer",
            f"Category transfer with fashion32 ({count} test images × {k} classes)",
            "Each test image is reconstructed by DGP (manipulation preset, class searched with the latent), then its "
            "tuned generator renders every other class with the same z; the project's fashion32 classifier labels "
            "the renderings. Rate = renderings labelled with their target class.",
            rows,
        )
    ]


SUITES = [
    Suite(
        "dgp",
        dgp_suite,
        lambda o: ["dgp_schedules", "dgp_ablation", "dgp_speed", *map(restoration_name, in_zoo())],
    ),
    Suite("dgp-ablation", ablation_suite, ("dgp_schedules", "dgp_ablation")),
    Suite("dgp-speed", speed_suite, ("dgp_speed",)),
    Suite("dgp-defense", defense_suite, ("dgp_defense",)),
    Suite("dgp-transfer", transfer_suite, ("dgp_transfer",)),
] + [
    Suite(
        f"dgp-{name}", restoration_suite(name), lambda o, n=name: [restoration_name(m) for m in in_zoo([n])]
    )
    for name in PLAN
]
