"""Suites ``rgi-*``: RGI / R-RGI: mask-free inpainting, λ sensitivity, anomaly detection.

- ``rgi-inpaint``: face64 (LFW faces) and fashion32 (Fashion-MNIST test), free-form strokes corrupted with −1 + N(0, 1);
  RGI/R-RGI (no mask given) against inversion given the true mask (oracle) and plain inversion
  without a mask; IoU of the detected mask; the same main rows with uniform and copied-patch fills;
  ``rgi-heldout``: those rows on a second held-out set with other strokes; ``rgi-seeds`` (and
  ``rgi-seeds-heldout``): the oracle and R-RGI's preset at three solver seeds; ``rgi-lambda``: PSNR/IoU
  as λ moves around the calibrated value.
- ``rgi-anomaly``: the texture models on held-out crops with synthetic defects; R-RGI, RGI, the
  AnoGAN-style residual, the oracle-mask inversion residual and the PatchCore-style baseline, all
  at thresholds calibrated on other normal crops; then pooled AUROC of R-RGI as λ moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ganprior import examples
from ganprior.anomaly import anomaly_maps, auroc, dice_iou, image_scores, per_image_auroc
from ganprior.checkpoint import Prior
from ganprior.metrics import median, reference_psnr
from ganprior.physics import DEFECT_KINDS, STROKE_FILLS, Corruption, Mask, stroke_corruption
from ganprior.pipeline import measure, restore
from ganprior.robust import model_lambda
from ganprior.solvers import InvertConfig, Result, invert
from ganprior.solvers.rgi import CONFIGS, FIT_FRACTION, RGIConfig, preset, rgi
from ganprior.texture_crops import TEXTURES

from .common import BenchOptions, Suite, Table, median_scores, resources, test_split

LAMBDA_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
CALIBRATION_CROPS = 12  # normal held-out crops per texture: half for λ, half for the thresholds
INPAINT_MODELS = {
    "face64": "LFW real faces (25×25 gray, fitted to 64×64 RGB)",
    "fashion32": "Fashion-MNIST test",
}


def inpaint_images(model: str, prior: Prior, count: int, calibration: bool = False, start: int = 0) -> Tensor:
    """Held-out real images for ``model``: LFW faces (face64) or Fashion-MNIST test images (fashion32),
    (N, C, H, W), ``count`` of them from index ``start``. ``calibration``: the last 8 of the set
    instead, never benchmarked."""
    if model == "face64":
        faces = resources().lfw_faces(100)
        chosen = faces[-8:] if calibration else faces[start : start + count]
        return examples.fit_to_prior([img for _, img in chosen], prior)
    test = test_split("fashion-mnist", prior.generator.resolution, prior.generator.channels).images
    return test[-8:] if calibration else test[start : start + count]


VISIBLE = 0.1  # a corrupted pixel is visible when some channel moved by more than 5% of the range


def visible_corruption(clean: Tensor, observed: Tensor, masks: Tensor) -> Tensor:
    """The corrupted pixels (N, 1, H, W) whose observed value differs from the clean one by more than
    ``VISIBLE`` in some channel; the rest (e.g. noise below −1 on a black background) no detector can see."""
    return (1 - masks) * ((observed - clean).abs().amax(1, keepdim=True) > VISIBLE).float()


def mask_ious(detected: Tensor, clean: Tensor, observed: Tensor, masks: Tensor) -> dict[str, float]:
    """Median IoU of the detected mask (N, 1 or C, H, W; a pixel is flagged when some channel is) with
    the true corrupted pixels, and with the visible ones."""
    detected = detected.amax(1, keepdim=True)
    return {
        "mask IoU (median)": median(dice_iou(detected, 1 - masks)[1]),
        "IoU, visible corruption (median)": median(
            dice_iou(detected, visible_corruption(clean, observed, masks))[1]
        ),
    }


def corrupted_set(
    model: str, options: BenchOptions, count: int, start: int = 0, seed: int = 0, fill: str = "noise"
) -> tuple[Prior, Tensor, Tensor, Tensor]:
    """The model and ``count`` of its held-out images from ``start``, clean, with their stroke masks
    and observations (strokes seeded by ``options.seed + seed``, filled as ``fill``)."""
    prior = resources().model(model, options.device)
    clean = inpaint_images(model, prior, count, start=start)
    masks, observed = stroke_corruption(clean, options.seed + seed, fill)
    return prior, clean, masks, observed


ONE_RUN = {"restarts": 1}  # R-RGI's preset without restarts
ONE_LAMBDA = {"fit_fraction": None} | ONE_RUN  # R-RGI's schedule before two λ: M fitted and decided at λ
BEST_OF_3 = {"restarts": 3}
ORACLE_ROW, BEST_ORACLE_ROW = "invert (true mask, oracle)", "invert (true mask, oracle), best of 3 restarts"
INPAINT_ROWS = {  # row label: (method, its options)
    ORACLE_ROW: ("invert", None),
    BEST_ORACLE_ROW + " (--method-option restarts=3)": ("invert", BEST_OF_3),
    "invert (no mask)": ("invert", None),
    "rgi": ("rgi", None),
    "rgi, mask closed 3×3 (--method-option closing=3)": ("rgi", {"closing": 3}),
    "rgi, mask closed 3×3, z refitted (--method-option refit_steps=600)": (
        "rgi",
        {"closing": 3, "refit_steps": 600},
    ),
    "rgi, mask closed 3×3, best of 3 restarts (--method-option closing=3 restarts=3)": (
        "rgi",
        {"closing": 3} | BEST_OF_3,
    ),
    "rgi, mask per channel, closed 3×3 (--method-option mask=channel)": (
        "rgi",
        {"closing": 3, "mask": "channel"},
    ),
    "rgi, two λ, mask closed 3×3 (--method-option fit_fraction=0.15 closing=3)": (
        "rgi",
        {"fit_fraction": FIT_FRACTION, "closing": 3},
    ),
    "rrgi, one λ, one run (--method-option fit_fraction=none restarts=1)": ("rrgi", ONE_LAMBDA),
    "rrgi, one λ, one run, mask closed 3×3": ("rrgi", ONE_LAMBDA | {"closing": 3}),
    "rrgi, two λ, one run, mask from its own final residual, closed 3×3 (--method-option decide=final closing=3 restarts=1)": (
        "rrgi",
        {"decide": "final", "closing": 3} | ONE_RUN,
    ),
    "rrgi, two λ (M fitted at 0.15 λ, RGI's mask at λ), one run (--method-option restarts=1)": (
        "rrgi",
        ONE_RUN,
    ),
    "rrgi, two λ, one run, RGI's mask closed 3×3 (--method-option closing=3 restarts=1)": (
        "rrgi",
        {"closing": 3} | ONE_RUN,
    ),
    "rrgi, two λ, one run, RGI's mask per channel, closed 3×3": (
        "rrgi",
        {"closing": 3, "mask": "channel"} | ONE_RUN,
    ),
    "rrgi (preset: two λ, best of 3 restarts), RGI's mask closed 3×3 (--method-option closing=3)": (
        "rrgi",
        {"closing": 3},
    ),
}
CLOSED_ROW = "rgi, mask closed 3×3 (--method-option closing=3)"
ONE_RUN_ROW = "rrgi, two λ, one run, RGI's mask closed 3×3 (--method-option closing=3 restarts=1)"
RRGI_ROW = "rrgi (preset: two λ, best of 3 restarts), RGI's mask closed 3×3 (--method-option closing=3)"
ORACLES = (ORACLE_ROW, BEST_ORACLE_ROW + " (--method-option restarts=3)")
HELD_OUT_ROWS = (  # the rows of the held-out and harder-corruption table
    *ORACLES,
    "invert (no mask)",
    CLOSED_ROW,
    "rgi, mask closed 3×3, z refitted (--method-option refit_steps=600)",
    ONE_RUN_ROW,
    RRGI_ROW,
)
HELD_OUT = {"count": 12, "start": 6, "seed": 1000}  # the second set: 12 other images, other strokes
HOLDOUT_ROW = "rrgi preset, restarts scored on 2 strokes held out of the fit (--method-option closing=3 holdout_strokes=2)"
CLOSED_5_ROW = "rrgi preset, RGI's mask closed 5×5 (--method-option closing=5)"
SEEDS_ROWS = {  # rows of the seeds suites alone
    HOLDOUT_ROW: ("rrgi", {"closing": 3, "holdout_strokes": 2}),
    CLOSED_5_ROW: ("rrgi", {"closing": 5}),
}


def _inpaint_row(
    prior: Prior, label: str, clean: Tensor, masks: Tensor, observed: Tensor, **kw: Any
) -> tuple[dict, Result]:
    """One ``INPAINT_ROWS`` (or ``SEEDS_ROWS``) entry on the corrupted images: median PSNR/SSIM (full, hole), detected-mask
    IoU, s/image; and the solver's ``Result``."""
    method, options = (INPAINT_ROWS | SEEDS_ROWS)[label]
    started = time.perf_counter()
    if label == "invert (no mask)":
        out = restore(
            prior, observed, "inpaint", "invert", mask=torch.ones_like(masks), batch_size=len(clean), **kw
        )
        image = out.raw  # nothing is known to keep: the generator's output is the restoration
    else:
        out = restore(
            prior, observed, "inpaint", method, mask=masks, batch_size=len(clean), options=options, **kw
        )
        image = out.restored
    seconds = (time.perf_counter() - started) / len(clean)
    robust = isinstance(out.config, RGIConfig)
    row: dict[str, Any] = {
        "method": label,
        "λ": out.config.lam if robust else "",
        "λ of the fit": out.config.fit_lambda() if robust else "",
    }
    row |= median_scores(measure(image, clean, Corruption(masks)))
    row["psnr, reference protocol (median)"] = median(reference_psnr(out.raw, clean))
    if out.result.mask is not None:
        row |= mask_ious(out.result.mask, clean, observed, masks)
    row["s/image"] = seconds
    return row, out.result


GAP_PROTOCOL = (
    'Same images and runs as the inpainting table: the oracle\'s G(z*) and the latent of the row "{rgi}", each '
    "pasted into the observation through the true mask or through RGI's detected mask. The row with the oracle's "
    "latent and the detected mask costs only detection; the row with RGI's latent and the true mask costs only "
    "RGI's latent. Shares: the fraction of the full-image squared error (median over images) that lies in missed "
    "corrupted pixels (the corruption is kept) and in clean pixels flagged as corrupted (replaced by G(z))."
)


def gap_rows(clean: Tensor, masks: Tensor, observed: Tensor, oracle: Tensor, found: Result) -> list[dict]:
    """The PSNR of each (latent, mask) pairing of the oracle and RGI (``found``: its ``image`` G(z) and
    detected ``mask``, 1 = corrupted), with the error shares of misses and false alarms."""
    corrupted = 1 - masks
    rows = []
    for latent, image in (("oracle's", oracle), ("RGI's", found.image)):
        for mask_name, hole in (("true", corrupted), ("detected", found.mask)):
            restored = Mask(1 - hole).project(image, observed).clamp(-1, 1)
            error = ((restored - clean) / 2).square().sum(1, keepdim=True)
            total = error.flatten(1).sum(1).clamp_min(1e-12)  # an exact restoration has no shares
            rows.append(
                {
                    "G(z) from": latent,
                    "mask": mask_name,
                    **median_scores(measure(restored, clean, Corruption(masks))),
                    "error share, misses": median((error * corrupted * (1 - hole)).flatten(1).sum(1) / total),
                    "error share, false alarms": median(
                        (error * (1 - corrupted) * hole).flatten(1).sum(1) / total
                    ),
                }
            )
    return rows


REFERENCE_PROTOCOL = (
    "'psnr, reference protocol': RGI's own scoring (its utils/eval_inpainting.py): the raw generator output G(z), "
    "not the composite, and the clean image, each min-max normalised to [0, 1] on its own, PSNR over the full "
    "image (median over images, as the paper)."
)
TWO_LAMBDA = (
    "Two λ (R-RGI's preset): M is fitted at 0.15 λ (column 'λ of the fit'), a generous mask behind which G "
    "fine-tunes, and the reported mask is that of a frozen-generator RGI fit at the calibrated λ, run first "
    "('RGI's mask'; `decide=final` instead takes M's optimum at λ for R-RGI's own final residual, r² > λ); one λ "
    "fits and decides at λ."
)


def inpaint_sizes(options: BenchOptions) -> tuple[int, int | None]:
    """The benchmark images' count and the step budget (None: the presets') of the inpainting suites."""
    return (4, 60) if options.quick else (6, None)


def image_set(options: BenchOptions, held_out: bool) -> dict[str, int]:
    """The images of an inpainting suite (count, start, strokes seed): the benchmark set, or the second
    held-out set (``HELD_OUT``; in quick mode two images after the benchmark's)."""
    count, _ = inpaint_sizes(options)
    if not held_out:
        return {"count": count, "start": 0, "seed": 0}
    return {"count": 2, "start": count, "seed": HELD_OUT["seed"]} if options.quick else HELD_OUT


def inpaint_suite(model: str) -> Callable[[BenchOptions], list[Table]]:
    def suite(options: BenchOptions) -> list[Table]:
        count, steps = inpaint_sizes(options)
        chosen = image_set(options, held_out=False)
        prior, clean, masks, observed = corrupted_set(model, options, **chosen)
        scored, results = [], {}
        for label in INPAINT_ROWS:
            row, results[label] = _inpaint_row(
                prior, label, clean, masks, observed, steps=steps, seed=options.seed
            )
            scored.append(row)
        rows = [{"model": model, "data": INPAINT_MODELS[model]} | row for row in scored]
        gap = gap_rows(clean, masks, observed, results[ORACLE_ROW].image, results[CLOSED_ROW])
        protocol = (
            f"Protocol: {count} held-out real images; per image a seeded free-form strokes hole "
            f"({100 * float((1 - masks).mean()):.0f}% of the pixels on average) replaced by −1 + N(0, 1) per channel "
            "(RGI's corruption). rgi/rrgi get only the corrupted image (no mask) and the λ calibrated once per model "
            "on 8 other held-out images (pretrained/calibration.json, `python -m benchmarks.calibrate MODEL`); their "
            f"restoration keeps the observation where the detected mask says intact. {TWO_LAMBDA} "
            "'Per channel': M of the image's shape (N, C, H, W), as the reference, λ / C per entry; its IoU counts "
            "a pixel as flagged when some channel is. The oracle inverts with the true "
            "mask and keeps the known pixels; plain inversion fits the whole corrupted image and its output is G(z*). "
            "PSNR/SSIM on [0, 1] intensities of the composite (ours), full image and hole only; "
            f"{REFERENCE_PROTOCOL} Mask IoU between the detected (|M| > 0.5, as "
            "the reference; the closed rows add a 3×3 morphological closing of that mask) and the true corrupted "
            "pixels, and with the visibly corrupted ones (some channel off by > 5% of the range; the "
            "others, e.g. noise below −1 on a black background, are identical to the clean image after clipping and no "
            "detector can see them). Steps: the presets "
            f"({steps or 'invert 600, rgi/rrgi 800; R-RGI fine-tunes G from step 600 with the mask frozen'}); the "
            "refitted row then inverts z afresh (best of 500, L1, 600 steps) with the detected mask held out. "
            "Timings on 1 thread of a 2-core CPU shared with other jobs."
        )
        title = f"Mask-free inpainting with RGI / R-RGI ({model}, {INPAINT_MODELS[model]})"
        gap_title = f"Where mask-free RGI loses to the oracle ({model})"
        first = [row for row in scored if row["method"] in HELD_OUT_ROWS]  # the title names the model
        return [
            Table(f"rgi_inpaint_{model}", title, protocol, rows),
            Table(f"rgi_gap_{model}", gap_title, GAP_PROTOCOL.format(rgi=CLOSED_ROW), gap),
            fills_table(
                f"rgi_fills_{model}",
                f"Mask-free inpainting on harder corruptions ({model}, the benchmark images)",
                model,
                options,
                chosen,
                steps,
                first,
            ),
        ]

    suite.__doc__ = (
        f"Mask-free inpainting: RGI / R-RGI against the true-mask oracle and plain inversion ({model})."
    )
    return suite


def held_out_suite(model: str) -> Callable[[BenchOptions], list[Table]]:
    def suite(options: BenchOptions) -> list[Table]:
        _, steps = inpaint_sizes(options)
        chosen = image_set(options, held_out=True)
        title = (
            f"Mask-free inpainting on a second held-out set ({model}, {chosen['count']} images from "
            f"#{chosen['start']}, strokes seed +{chosen['seed']})"
        )
        return [fills_table(f"rgi_heldout_{model}", title, model, options, chosen, steps)]

    suite.__doc__ = (
        f"Mask-free inpainting on a second held-out set with other strokes, every stroke fill ({model})."
    )
    return suite


SOLVER_SEEDS = (0, 1, 2)  # the seeds-suite's solver seeds (added to --seed); the strokes stay those of seed 0


class SeedsVariant(NamedTuple):
    """A seeds suite's R-RGI rows beside the oracle, what its protocol says of them, and that in short."""

    rows: tuple[str, ...]
    protocol: str
    summary: str


SEEDS_VARIANTS = {  # table prefix: its rows
    "rgi_seeds": SeedsVariant(
        (RRGI_ROW, HOLDOUT_ROW),
        "The preset keeps per image the restart whose G(z) fits the unflagged pixels best; the held-out row "
        "leaves 2 seeded free-form strokes (~8% of the pixels, the same for every image, drawn from the solver "
        "seed) out of the fit and keeps the restart that predicts their unflagged pixels best.",
        "R-RGI's preset (restarts scored on fitted or held-out pixels)",
    ),
    "rgi_closing": SeedsVariant(
        (RRGI_ROW, CLOSED_5_ROW),
        "The two R-RGI rows differ only in the closing of RGI's mask (3×3 or 5×5): the fits are the same, the "
        "reported mask (and so the composite, and the kept pixels that score the restarts) differs.",
        "R-RGI's preset with RGI's mask closed 3×3 and 5×5",
    ),
}


def seeds_suite(
    model: str, held_out: bool, variant: str = "rgi_seeds"
) -> Callable[[BenchOptions], list[Table]]:
    which = "held-out" if held_out else "benchmark"
    compared = SEEDS_VARIANTS[variant]

    def suite(options: BenchOptions) -> list[Table]:
        _, steps = inpaint_sizes(options)
        chosen = image_set(options, held_out)
        prior, clean, masks, observed = corrupted_set(model, options, **chosen)
        rows = []
        for offset in SOLVER_SEEDS[:2] if options.quick else SOLVER_SEEDS:
            seed = options.seed + offset
            oracle, _ = _inpaint_row(prior, ORACLE_ROW, clean, masks, observed, steps=steps, seed=seed)
            found = [
                _inpaint_row(prior, label, clean, masks, observed, steps=steps, seed=seed)[0]
                for label in compared.rows
            ]
            for row in found:
                row["gap to this seed's oracle (dB)"] = oracle["psnr (median)"] - row["psnr (median)"]
            rows += [{"solver seed": seed} | row for row in (oracle, *found)]
        name = f"{variant}_heldout_{model}" if held_out else f"{variant}_{model}"
        title = f"Mask-free inpainting as the solver seed moves ({model}, the {which} images, noise fill)"
        protocol = (
            f"Protocol: as rgi_{'heldout' if held_out else 'inpaint'}_{model}, {chosen['count']} images from "
            f"#{chosen['start']}, strokes seed +{chosen['seed']}, noise fill (the same corrupted images in every row); "
            "the oracle and R-RGI's preset run with each solver seed (the start search and the restarts' seeds), "
            "so the rows show how far one run's median moves with the seed alone. The gap is this seed's oracle "
            f"minus R-RGI, in median composite PSNR. {TWO_LAMBDA} {compared.protocol} Timings on 1 thread of a 2-core "
            "CPU shared with other jobs."
        )
        return [Table(name, title, protocol, rows)]

    suite.__doc__ = f"Mask-free inpainting: the oracle and {compared.summary} at three solver seeds, {which} images ({model})."
    return suite


def fills_table(
    name: str,
    title: str,
    model: str,
    options: BenchOptions,
    chosen: dict[str, int],
    steps: int | None,
    noise_rows: list[dict] | None = None,
) -> Table:
    """``HELD_OUT_ROWS`` on the images ``chosen`` (count, start, strokes seed) for every stroke fill
    (``STROKE_FILLS``); ``noise_rows``: those rows already run on these images with the noise fill."""
    rows: list[dict] = []
    oracles: list[dict] = []
    for fill in STROKE_FILLS:
        if fill == "noise" and noise_rows is not None:
            found = noise_rows
        else:
            prior, clean, masks, observed = corrupted_set(model, options, fill=fill, **chosen)
            found = [
                row
                if label in ORACLES and (row := next((o for o in oracles if o["method"] == label), None))
                else _inpaint_row(prior, label, clean, masks, observed, steps=steps, seed=options.seed)[0]
                for label in HELD_OUT_ROWS
            ]
        oracles = [row for row in found if row["method"] in ORACLES]
        rows += [{"corruption": fill} | row for row in found]
    fills = "; ".join(f"{fill}: {what}" for fill, what in STROKE_FILLS.items())
    reused = " The noise rows are the inpainting table's." if noise_rows is not None else ""
    protocol = (
        f"Protocol: as rgi_inpaint_{model} (same λ, presets, steps and metrics), {chosen['count']} images from "
        f"#{chosen['start']} with strokes seed +{chosen['seed']}, each with three fills of the stroke pixels: "
        f"{fills}. {TWO_LAMBDA} {REFERENCE_PROTOCOL}{reused} The oracle sees only the pixels outside the strokes, "
        "the same for every fill, so its rows are run once (with the noise fill) and repeated. Timings on 1 thread "
        "of a 2-core CPU shared with other jobs."
    )
    return Table(name, title, protocol, rows)


def lambda_suite(model: str) -> Callable[[BenchOptions], list[Table]]:
    def suite(options: BenchOptions) -> list[Table]:
        count, steps = (2, 60) if options.quick else (6, None)
        prior, clean, masks, observed = corrupted_set(model, options, count)
        return [lambda_table(prior, clean, masks, observed, steps, options.seed)]

    suite.__doc__ = f"How mask-free inpainting depends on RGI's λ ({model})."
    return suite


def lambda_table(
    prior: Prior, clean: Tensor, masks: Tensor, observed: Tensor, steps: int | None, seed: int
) -> Table:
    """PSNR and mask IoU of RGI as λ = factor × the calibrated λ."""
    rows = []
    base = model_lambda(prior, "rgi")
    for factor in LAMBDA_FACTORS:
        result = rgi(prior.generator, observed, preset("rgi", "inpaint", base * factor, steps, seed))
        restored = Mask(1 - result.mask).project(result.image, observed).clamp(-1, 1)
        scores = measure(restored, clean, Corruption(masks))
        rows.append(
            {
                "method": "rgi",
                "λ / calibrated": factor,
                "λ": base * factor,
                "psnr (median)": median(scores["psnr"]),
                "psnr_hole (median)": median(scores["psnr_hole"]),
            }
            | mask_ious(result.mask, clean, observed, masks)
        )
    return Table(
        f"rgi_lambda_{prior.name}",
        f"Sensitivity of mask-free inpainting to λ ({prior.name})",
        f"Protocol: the first {len(clean)} images of rgi_inpaint_{prior.name}, same corruption, seeds and steps; λ = "
        "factor × the calibrated λ of the method (λ/2 is the squared-residual level above which a pixel can be "
        "flagged). Same metrics as the inpainting table.",
        rows,
    )


# --------------------------------------------------------------------------------------------- anomaly
def defect_set(texture: str, count: int, normal: int, seed: int) -> tuple[Tensor, Tensor]:
    """``count`` held-out crops with one defect each (the kinds in turn) followed by ``normal`` clean
    held-out crops: images (N, 1, 32, 32) and true masks (N, 1, 32, 32)."""
    return resources().defective_crops(texture, "test", 32, count, normal, seed)


def _metrics(maps: Tensor, masks: Tensor, threshold: float) -> dict[str, float]:
    defective = masks.flatten(1).amax(1) > 0
    dice, iou = dice_iou((maps > threshold).float()[defective], masks[defective])
    return {
        "pixel AUROC (pooled)": auroc(maps, masks),
        "pixel AUROC (per-image mean)": float(per_image_auroc(maps[defective], masks[defective]).nanmean()),
        "Dice (calibrated)": float(dice.mean()),
        "IoU (calibrated)": float(iou.mean()),
        "image AUROC": auroc(image_scores(maps), defective.float()),
        "flagged % on normal": 100 * float((maps[~defective] > threshold).float().mean()),
    }


THRESHOLD_QUANTILE = 0.999  # as anomaly.calibrate's default


def normal_threshold(normal_maps: Tensor) -> float:
    """The pixel threshold a detector gets from its maps of normal crops: their ``THRESHOLD_QUANTILE``."""
    return float(torch.quantile(normal_maps.flatten(), THRESHOLD_QUANTILE))


def rgi_maps_and_threshold(
    prior: Prior, config: RGIConfig, normal: Tensor, images: Tensor
) -> tuple[Tensor, float]:
    """|M| maps of ``images`` under ``config`` and the threshold from those of the ``normal`` crops, in one
    batch (the images are solved independently; the normal crops only set the threshold)."""
    maps = rgi(prior.generator, torch.cat([normal, images]), config).extras["anomaly"]
    return maps[len(normal) :], normal_threshold(maps[: len(normal)])


def _oracle_maps(prior: Prior, images: Tensor, masks: Tensor, steps: int | None, seed: int) -> Tensor:
    """Residual after inversion given the true defect mask (the defect pixels are ignored by the fit)."""
    config = InvertConfig(seed=seed, steps=steps or InvertConfig().steps)
    known = Mask(1 - masks)
    result = invert(prior.generator, known(images), known, config)
    return (images - result.image).abs().mean(1, keepdim=True)


def anomaly_rows(
    prior: Prior, texture: str, count: int, normal: int, steps: int | None, seed: int
) -> list[dict]:
    images, masks = defect_set(texture, count, normal, seed)
    calibration_set = resources().texture_crops(texture, "test", 32, CALIBRATION_CROPS, seed + 1)
    rows = []
    detectors: dict[str, Callable[[], tuple[Tensor, float]]] = {}
    for method in (*CONFIGS, "residual"):

        def run(method: str = method) -> tuple[Tensor, float]:
            stored = prior.card.get("calibration", {}).get(method)
            maps, _ = anomaly_maps(prior, images, method, stored.get("lambda"), steps, seed)
            return maps, stored["threshold"]

        detectors[method] = run

    def oracle() -> tuple[Tensor, float]:
        normal_maps = _oracle_maps(prior, calibration_set, torch.zeros_like(calibration_set), steps, seed)
        return _oracle_maps(prior, images, masks, steps, seed), normal_threshold(normal_maps)

    def patchcore() -> tuple[Tensor, float]:
        model = resources().patchcore(seed).fit(resources().texture_crops(texture, "train", 32, 500, seed))
        return model.maps(images), normal_threshold(model.maps(calibration_set))

    def reference_rrgi() -> tuple[Tensor, float]:
        """R-RGI as the reference schedules it (M learns from step 0) with the frozen fit's λ (RGI's)."""
        config = preset(
            "rrgi", "anomaly", prior.card["calibration"]["rgi"]["lambda"], steps, seed, mask_from=0
        )
        return rgi_maps_and_threshold(prior, config, calibration_set[CALIBRATION_CROPS // 2 :], images)

    detectors |= {
        "rrgi, reference schedule (M from step 0, RGI's λ)": reference_rrgi,
        "oracle-mask inversion": oracle,
        "PatchCore (EfficientNet-Lite0)": patchcore,
    }
    for name, run_detector in detectors.items():
        started = time.perf_counter()
        maps, threshold = run_detector()
        row = {"model": prior.name, "detector": name, **_metrics(maps, masks, threshold)}
        row["s/image"] = (time.perf_counter() - started) / len(images)
        rows.append(row)
    return rows


ANOMALY_PROTOCOL = (
    "Protocol: a 32×32 gray GAN trained here on crops of the top 80% of scikit-image's texture; {count} held-out "
    "crops from the bottom 20% with one synthetic defect each ("
    + ", ".join(DEFECT_KINDS)
    + " in turn; exact "
    "pixel masks) + {normal} normal held-out crops. Thresholds: the 99.9% quantile of each detector's maps on 6 "
    "other normal held-out crops (λ from 6 more); for rgi/rrgi/residual the calibration stored in the model card "
    "(`python -m benchmarks.calibrate ship RUN`), never a per-image oracle threshold. Pooled AUROC over all pixels "
    "of all images; per-image mean AUROC over defective images (RGI's protocol); Dice/IoU of the binary masks on "
    "defective images; image AUROC from the mean of the top 1% of each map; flagged % on the normal images. "
    "rgi/rrgi: anomaly preset, 400 steps (R-RGI fine-tunes G from step 100 at lr 1e-5, the reference's, and its "
    "mask learns from step 100 on, with λ from the fine-tuned fit of normal crops; the reference-schedule row lets "
    "the mask learn from step 0, with the frozen fit's λ, threshold from its maps on the same 6 normal crops); "
    "residual/oracle: plain inversion, 600 steps. PatchCore: memory bank of 20k random patch features (blocks 2+4 "
    "of ImageNet EfficientNet-Lite0, inputs resized to 128) from 500 training crops. Timings on 1 thread of a 2-core CPU shared with one other job."
)


def anomaly_suite(texture: str) -> Callable[[BenchOptions], list[Table]]:
    def suite(options: BenchOptions) -> list[Table]:
        count, normal, steps = (5, 3, 60) if options.quick else (10, 5, None)
        prior = resources().model(f"{texture}32", options.device)
        rows = anomaly_rows(prior, texture, count, normal, steps, options.seed)
        title = f"Pixel-wise anomaly detection on synthetic defects ({texture}32)"
        protocol = ANOMALY_PROTOCOL.format(count=count, normal=normal)
        return [Table(f"rgi_anomaly_{texture}32", title, protocol, rows)]

    suite.__doc__ = (
        f"Pixel-wise anomaly detection on synthetic defects: R-RGI against the baselines ({texture}32)."
    )
    return suite


def lambda_anomaly_suite(options: BenchOptions) -> list[Table]:
    """How R-RGI's anomaly detection depends on λ (brick32)."""
    count, normal, steps = (5, 3, 60) if options.quick else (10, 5, None)
    texture = TEXTURES[0]
    rows = lambda_anomaly_rows(
        resources().model(f"{texture}32", options.device), texture, count, normal, steps, options.seed
    )
    return [
        Table(
            "rgi_lambda_anomaly",
            f"Sensitivity of R-RGI anomaly detection to λ ({texture}32)",
            f"Same images as rgi_anomaly_{texture}32; λ = factor × the calibrated λ; the pixel threshold re-calibrated "
            "at each λ on the same 6 normal crops as the stored calibration (99.9% quantile).",
            rows,
        )
    ]


def lambda_anomaly_rows(
    prior: Prior, texture: str, count: int, normal: int, steps: int | None, seed: int
) -> list[dict]:
    images, masks = defect_set(texture, count, normal, seed)
    normal_crops = resources().texture_crops(texture, "test", 32, CALIBRATION_CROPS, seed + 1)[
        CALIBRATION_CROPS // 2 :
    ]
    base = model_lambda(prior, "rrgi")
    rows = []
    for factor in LAMBDA_FACTORS[::2]:
        lam = base * factor
        config = preset("rrgi", "anomaly", lam, steps, seed)
        maps, threshold = rgi_maps_and_threshold(prior, config, normal_crops, images)
        rows.append({"λ / calibrated": factor, "λ": lam, **_metrics(maps, masks, threshold)})
    return rows


SUITES = [
    *[
        Suite(f"rgi-inpaint-{m}", inpaint_suite(m), (f"rgi_inpaint_{m}", f"rgi_gap_{m}", f"rgi_fills_{m}"))
        for m in INPAINT_MODELS
    ],
    *[Suite(f"rgi-heldout-{m}", held_out_suite(m), (f"rgi_heldout_{m}",)) for m in INPAINT_MODELS],
    *[Suite(f"rgi-seeds-{m}", seeds_suite(m, held_out=False), (f"rgi_seeds_{m}",)) for m in INPAINT_MODELS],
    *[
        Suite(f"rgi-seeds-heldout-{m}", seeds_suite(m, held_out=True), (f"rgi_seeds_heldout_{m}",))
        for m in INPAINT_MODELS
    ],
    Suite("rgi-closing-face64", seeds_suite("face64", False, "rgi_closing"), ("rgi_closing_face64",)),
    Suite(
        "rgi-closing-heldout-face64",
        seeds_suite("face64", True, "rgi_closing"),
        ("rgi_closing_heldout_face64",),
    ),
    *[Suite(f"rgi-lambda-{m}", lambda_suite(m), (f"rgi_lambda_{m}",)) for m in INPAINT_MODELS],
    *[Suite(f"rgi-anomaly-{t}32", anomaly_suite(t), (f"rgi_anomaly_{t}32",)) for t in TEXTURES],
    Suite("rgi-lambda-anomaly", lambda_anomaly_suite, ("rgi_lambda_anomaly",)),
]
