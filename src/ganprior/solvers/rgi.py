"""RGI / R-RGI: robust GAN inversion with a learned sparse corruption mask (METHODS.md §3).

    min_{z, M}  Σ ‖(1 − M) ⊙ (x̂ − G(z))‖²  +  λ Σ |M|   (− λ_D · D(G(z)), optional realism term)

M is a dense real map without sigmoid or clamp, as in the reference; sums, not means. ``mask``
"pixel" (default) gives one M per pixel (N, 1, H, W), shared by the channels, with λ per pixel;
"channel" gives the reference's M of the image's shape (N, C, H, W), with λ / C per element so that
a calibrated λ keeps its meaning. For a fixed residual r² (summed over the channels the entry
covers) the optimal M is ``max(0, 1 − λ / (2 r²))``: an entry rises above 1/2 exactly when r² > λ,
so λ is a threshold on the squared residual — which is what ``ganprior.anomaly.calibrate`` sets
from normal images.

Two λ (``fit_fraction`` set): M is fitted with the smaller ``fit_fraction · lam`` — a generous
mask, so neither z nor R-RGI's fine-tuned generator learns the corruption — and the reported mask
is decided at ``lam``: with ``decide="rgi"`` (R-RGI's inpainting preset) it is the mask of a
frozen-generator RGI fit at ``lam`` run first (the calibrated mask), with ``decide="final"`` M's
optimum at ``lam`` for the final residual (``settled_mask``); thresholded and closed as usual.
The restoration composites G(z) through that mask.

R-RGI (``warmup`` set): from step ``warmup`` on, each image also fine-tunes its own copy of the
whole generator (``PerImageGenerator``); the mask is frozen (inpainting) or keeps learning
(``learn_mask_after_warmup``, anomaly detection). ``mask_from`` > 0 holds M at its initial value
until that step (our anomaly schedule starts M with the fine-tuning; ``robust.preset``).

Restarts (``restarts`` K > 1): the solve runs from K starts per image (the best-of-N search
seeded by ``seed``, ``seed + 1``, …; restart 0 is the run without restarts, bar the held-out
pixels below), all K·N in one batch, and keeps per image the restart whose G(z) fits the
observation best on the pixels that no restart flags (mean squared residual): labels are not
needed, and all K are scored on the same pixels. The fit of a small model lands in different
basins from different starts — on face64 the composite PSNR of one image moves by up to 4 dB with
the seed — and the fit to the kept pixels tells the better basins apart (benchmarks/rgi.md).
Costs K× the time and memory of one run.
``holdout_strokes`` > 0 (an option; 2 strokes are ~8% of a face64 image) scores the restarts on
pixels none of them fitted instead: that many seeded free-form strokes, the same for every image and
restart, are left out of the fit's data term (M does not see them either), and each restart is
scored by its residual on the held-out pixels that no restart flags. The reported mask is decided
from residuals over every pixel (``fit_fraction``), so the held-out pixels are flagged like the
others. On face64 it helped on one image set and cost on the other (benchmarks/rgi.md), so the
preset scores on the fitted pixels.

Batched: every image has its own z, M (and generator copy); the per-image losses are summed and
Adam's updates are element-wise, so a batch of one gives the same numbers as the batched path.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from kornia import morphology
from torch import Tensor

from ..errors import GanpriorError
from ..features import pixel_metric
from ..models import StagedDiscriminator, StagedGenerator
from ..physics import Mask, Operator
from ..physics.masks import free_form
from ..robust import model_lambda
from .base import Callback, Init, Result, SolverConfig
from .init import search_latents
from .invert import InvertConfig, invert, search_start
from .loop import run_steps
from .per_image import PerImageGenerator
from .restarts import check_restarts, choose, first_restart, repeat_images, restart_starts, stack_starts

if TYPE_CHECKING:
    from ..checkpoint import Prior

PURPOSES = ("inpaint", "anomaly")
MASK_KINDS = ("pixel", "channel")
DECISIONS = ("rgi", "final")  # how two λ decide the reported mask (module doc)
PRESET_STEPS = {"inpaint": 800, "anomaly": 400}  # the reference's 2000 scaled to small models on a CPU
FIT_FRACTION = 0.15  # R-RGI inpainting fits M at 0.15 λ: about the reference's 0.1 per channel on face64
RESTARTS = 3  # R-RGI inpainting keeps the best of 3 restarts per image (benchmarks/rgi.md)
HOLDOUT_SEED = 104729  # the held-out strokes' seed stream: config.seed + this


@dataclass
class RGIConfig(SolverConfig):
    """steps; Adam lrs of z, M and (R-RGI) the generator; λ (L1 weight of M per pixel); initial M
    (1 for inpainting, 0 for anomaly detection); data term (mse | l1); ``warmup``: step at which
    the generator starts fine-tuning (None = RGI, G frozen); whether M keeps learning after it;
    ``mask_from``: the first step at which M learns; weight of the discriminator realism term;
    best-of-``init_samples`` start (L1 distance, robust to the corruption); ``threshold`` on |M| of
    the reported binary mask and the side of the square of its morphological ``closing`` (1 = none;
    ``binary_mask``); ``refit_steps`` > 0 (RGI only) re-inverts z from a fresh best-of-N start
    with the detected mask held out, an L1 data term and that many steps (``refit``); ``fit_fraction``:
    M is fitted with ``fit_fraction · lam`` (None: with ``lam``; set, the reported mask is decided at
    ``lam``, by ``decide``: rgi | final, see the module doc); ``mask``: pixel (N, 1, H, W) | channel
    (N, C, H, W); ``restarts``: K starts per image, the best kept, scored on ``holdout_strokes``
    strokes held out of the fit when > 0 (with K > 1 and ``fit_fraction``; module doc); seed.

    Presets (``for_task``): ``inpaint`` (mask-free inpainting) and ``anomaly`` (``preset``)."""

    steps: int = 1000
    lr_z: float = 0.05
    lr_mask: float = 0.1
    lr_g: float = 1e-5
    lam: float = 0.1
    mask_init: float = 1.0
    loss: str = "mse"
    warmup: int | None = None
    learn_mask_after_warmup: bool = False
    mask_from: int = 0
    realism_weight: float = 0.0
    init_samples: int = 500
    threshold: float = 0.5
    closing: int = 1
    refit_steps: int = 0
    fit_fraction: float | None = None
    decide: str = "final"
    mask: str = "pixel"
    restarts: int = 1
    holdout_strokes: int = 0

    method = "rgi"
    """The method whose schedule ``task_preset`` gives (``RRGIConfig``: ``rrgi``)."""

    def __post_init__(self) -> None:
        if self.mask not in MASK_KINDS:
            raise GanpriorError(f"mask must be one of {', '.join(MASK_KINDS)}, not {self.mask!r}")
        if self.decide not in DECISIONS:
            raise GanpriorError(f"decide must be one of {', '.join(DECISIONS)}, not {self.decide!r}")
        check_restarts(self.restarts)
        if self.holdout_strokes < 0:
            raise GanpriorError(f"holdout_strokes must be 0 or more, not {self.holdout_strokes}")
        if self.holdout_strokes and self.restarts > 1 and self.fit_fraction is None:
            raise GanpriorError(
                "holdout_strokes needs fit_fraction: a mask fitted without the held-out pixels never flags them"
            )
        if self.fit_fraction is not None and self.fit_fraction <= 0:
            raise GanpriorError(f"fit_fraction must be positive (or none), not {self.fit_fraction}")
        if self.refit_steps and self.warmup is not None:
            raise GanpriorError(
                "refit_steps applies to RGI: R-RGI's fine-tuning already refits with the mask frozen"
            )

    def fit_lambda(self) -> float:
        """The λ per pixel M is fitted with: ``fit_fraction · lam``, or ``lam`` (one λ)."""
        return self.lam if self.fit_fraction is None else self.fit_fraction * self.lam

    def detection_pass(self) -> RGIConfig | None:
        """The frozen-generator RGI at ``lam`` whose mask two λ report (``decide="rgi"``), else None."""
        if self.fit_fraction is None or self.decide != "rgi":
            return None
        one_lambda = {"fit_fraction": None, "decide": "final", "mask_from": 0, "holdout_strokes": 0}
        return RGIConfig(**(asdict(self) | {"warmup": None, "learn_mask_after_warmup": False} | one_lambda))

    def total_steps(self) -> int:
        detection = self.detection_pass()
        return self.steps + (detection.steps if detection else 0)

    @classmethod
    def task_preset(cls, task: str, prior: Prior, steps: int | None) -> dict[str, Any]:
        """The ``preset`` of ``task`` (inpaint | anomaly) with the model's calibrated λ: RGI's for
        inpainting (the mask settles while G is frozen; R-RGI freezes it when G starts fine-tuning),
        the method's own for anomaly detection."""
        task = "inpaint" if task == "reconstruct" else task  # a clean image: robust inversion
        if task not in PURPOSES:
            raise GanpriorError(f"{cls.method} has presets for {' and '.join(PURPOSES)}, not {task}")
        lam = model_lambda(prior, "rgi" if task == "inpaint" else cls.method)
        return preset_settings(cls.method, task, lam, steps)


@dataclass
class RRGIConfig(RGIConfig):
    """R-RGI: ``RGIConfig`` whose presets fine-tune the generator per image after a warm-up."""

    method = "rrgi"


def preset_settings(
    method: str, purpose: str, lam: float, steps: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """The fields of ``preset`` (see there) as a dict."""
    steps = steps or PRESET_STEPS[purpose]
    inpaint = purpose == "inpaint"
    warmup = None if method == "rgi" else round(steps * (0.75 if inpaint else 0.25))
    return {
        "steps": steps,
        "lam": lam,
        "mask_init": 1.0 if inpaint else 0.0,
        "warmup": warmup,
        "learn_mask_after_warmup": not inpaint,
        "mask_from": 0 if inpaint or warmup is None else warmup,
        "fit_fraction": FIT_FRACTION if inpaint and warmup is not None else None,
        "decide": "rgi" if inpaint and warmup is not None else "final",
        "restarts": RESTARTS if inpaint and warmup is not None else 1,
        "seed": seed,
    }


def preset(
    method: str, purpose: str, lam: float, steps: int | None = None, seed: int = 0, **overrides: Any
) -> RGIConfig:
    """The RGI/R-RGI schedule for ``purpose`` "inpaint" (M starts at 1 and is frozen once G
    fine-tunes, from 75% of the steps) or "anomaly" (M starts at 0; G from 25%), as in the
    reference, scaled to ``steps`` (default ``PRESET_STEPS[purpose]``).

    R-RGI inpainting uses two λ: M is fitted at ``FIT_FRACTION · lam``, a generous mask behind
    which G fine-tunes without learning the corruption, and the reported mask is that of a frozen
    RGI fit at the calibrated ``lam`` (``decide="rgi"``), and each image keeps the best of
    ``RESTARTS`` restarts (benchmarks/rgi.md says what each part gains); ``fit_fraction=None``
    gives the one-λ schedule, ``decide=final`` the mask from R-RGI's own final residual,
    ``restarts=1`` a single run, ``holdout_strokes=2`` restarts scored on strokes held out of the fit.

    One change to the reference for R-RGI anomaly detection: M is held at 0 until G fine-tunes and
    learns from then on (the reference lets it learn from the start; ``mask_from=0`` restores that).
    Its λ is calibrated on the fine-tuned generator's residuals (``anomaly.calibrate``), far below
    the frozen one's on held-out images, so a mask learning during the warm-up would flag most
    pixels and shield them from the fine-tuning; a λ from the frozen fit instead lets the
    fine-tuned G absorb the defects (benchmarks/results/rgi_anomaly_*.md shows both).

    For contiguous corruptions (strokes, blobs) ``closing=3`` closes the detected mask with a 3×3
    square and so also flags the corrupted pixels inside them whose values looked plausible; it is
    off by default because it merges nearby pixels of a scattered (random-pixel) corruption."""
    if method not in CONFIGS:
        raise GanpriorError(f"unknown robust method {method!r}")
    return CONFIGS[method](**(preset_settings(method, purpose, lam, steps, seed) | overrides))


def mask_learns(config: RGIConfig, step: int) -> bool:
    """Whether M learns at ``step``: from ``mask_from`` on, and after the warm-up only for anomaly detection."""
    tuning = config.warmup is not None and step >= config.warmup
    return step >= config.mask_from and (config.learn_mask_after_warmup or not tuning)


def binary_mask(anomaly: Tensor, threshold: float, closing: int = 1) -> Tensor:
    """|M| (N, 1 or C, H, W) -> {0, 1} (1 = corrupted): above ``threshold``, then closed with a
    ``closing``² square (kornia; geodesic border) when ``closing`` > 1."""
    binary = (anomaly > threshold).float()
    if closing <= 1:
        return binary
    return morphology.closing(binary, torch.ones(closing, closing, device=binary.device))


def mask_lambda(lam: float, kind: str, channels: int) -> float:
    """The L1 weight of one entry of M: λ per pixel, λ / C per element of a per-channel mask."""
    return lam / channels if kind == "channel" else lam


def settled_mask(residual: Tensor, lam: float, kind: str) -> Tensor:
    """M's optimum ``max(0, 1 − λ_e / (2 r²))`` for a fixed residual (N, C, H, W) (r² summed over
    the channels for a pixel mask; λ_e = ``mask_lambda``): (N, 1 or C, H, W) in [0, 1)."""
    channels = residual.shape[1]
    squared = residual.square() if kind == "channel" else residual.square().sum(1, keepdim=True)
    return (1 - mask_lambda(lam, kind, channels) / (2 * squared.clamp_min(1e-12))).clamp_min(0)


def data_term(residual: Tensor, mask: Tensor, kind: str) -> Tensor:
    """Σ over pixels of ‖(1 − M) ⊙ residual‖² (mse) or |·| (l1): residual (N, C, H, W), M (N, 1 or
    C, H, W) -> (N,)."""
    weighted = (1 - mask) * residual
    per_pixel = weighted.square() if kind == "mse" else weighted.abs()
    return per_pixel.flatten(1).sum(1)


def refit(
    generator: StagedGenerator, observation: Tensor, detected: Tensor, config: RGIConfig, restarts: int = 1
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Plain inversion of the observations (N, C, H, W) with the detected pixels (N, 1, H, W), 1 =
    corrupted, held out: G(z) (N, C, H, W), z and the class vectors. RGI's own latent is pulled by
    the corruption while M settles and by its soft weights; a fresh fit given the settled mask is
    not (benchmarks/results/rgi_gap_*.md). L1 bounds the pull of corrupted pixels the mask missed.
    ``restarts``: the N rows are that many restarts, restart-major; restart r's start is searched
    with ``seed + r``, as if it ran alone with that seed."""
    known = Mask(1 - detected)
    settings = InvertConfig(
        steps=config.refit_steps, loss="l1", init_samples=config.init_samples, seed=config.seed
    )
    masked, rows = known(observation), observation.shape[0] // restarts
    starts = [
        search_start(generator, masked[part], known.select(part), config.init_samples, config.seed + r)
        for r, part in enumerate(torch.arange(observation.shape[0]).split(rows))
    ]
    result = invert(generator, masked, known, settings, stack_starts(starts))
    return result.image, result.latent, result.classes


def rgi(
    generator: StagedGenerator,
    observation: Tensor,
    config: RGIConfig | None = None,
    discriminator: StagedDiscriminator | None = None,
    init: Init | None = None,
    callback: Callback | None = None,
    restarts: int = 1,
    held_out: Tensor | None = None,
) -> Result:
    """Robust inversion of N corrupted images (N, C, H, W) in [-1, 1] (the operator is the identity).
    ``restarts``: the N rows are that many restarts of N / restarts images (``best_of_restarts``),
    whose refits search their starts with ``seed + r``; the solve itself is per image. ``held_out``
    (N, 1, H, W), 1 = held out: pixels left out of the fit's data term (``holdout_region``).

    Returns a ``Result`` whose ``image`` is G(z) (the fine-tuned G for R-RGI; the refitted z with
    ``refit_steps``), ``mask`` the binary
    detection (|M| > threshold, 1 = corrupted; with ``fit_fraction``, decided at ``lam`` by ``decide``)
    (N, 1, H, W), or (N, C, H, W) with ``mask="channel"``, ``extras["anomaly"]`` the map |M| of the
    fit averaged over channels (N, 1, H, W) and ``extras["residual"]`` |x̂ − G(z)| averaged over channels (N, 1, H, W);
    ``generator_state`` holds the per-image generator parameters for R-RGI.
    """
    config = config or RGIConfig()
    if config.restarts > 1:
        return best_of_restarts(generator, observation, config, discriminator, init, callback)
    started = time.perf_counter()
    generator.eval().requires_grad_(False)
    n, c, h, w = observation.shape
    init = init or robust_start(generator, observation, config.init_samples, config.seed)
    detection = config.detection_pass()
    decided_by_rgi = (
        None
        if detection is None
        else rgi(generator, observation, detection, discriminator, init, callback).mask
    )
    z0, labels = init
    classes = generator.class_vector(labels, n) if labels is not None else None
    z = z0.detach().clone().to(observation.device).requires_grad_(True)
    entries = c if config.mask == "channel" else 1
    fit_lam = mask_lambda(config.fit_lambda(), config.mask, c)
    mask = torch.full((n, entries, h, w), config.mask_init, device=observation.device, requires_grad=True)
    optimizer = torch.optim.Adam(
        [{"params": [z], "lr": config.lr_z}, {"params": [mask], "lr": config.lr_mask}]
    )
    copies: PerImageGenerator | None = None
    seen = None if held_out is None else 1 - held_out

    def render() -> Tensor:
        return copies(z, classes) if copies is not None else generator(z, classes)

    def loss(step: int) -> Tensor:
        nonlocal copies
        if config.warmup is not None and step == config.warmup:
            copies = PerImageGenerator(generator, n)
            optimizer.add_param_group({"params": copies.parameters_list(), "lr": config.lr_g})
        image = render()
        residual = observation - image if seen is None else seen * (observation - image)
        value = data_term(residual, mask, config.loss) + fit_lam * mask.abs().flatten(1).sum(1)
        if config.realism_weight and discriminator is not None:
            value = value - config.realism_weight * discriminator(image, labels)
        return value

    def hold_mask(step: int) -> None:
        if not mask_learns(config, step):
            mask.grad = None  # held: Adam skips M and keeps no moments of it

    history = run_steps(
        loss,
        [optimizer],
        config.steps,
        n,
        callback,
        before_update=hold_mask,
        estimate=render,
        first_step=0 if detection is None else detection.steps,  # the callback counts both loops' steps
    )
    with torch.no_grad():
        image = render()
        anomaly = mask.detach().abs()
        fitted_only = config.fit_fraction is None
        decided = anomaly if fitted_only else settled_mask(observation - image, config.lam, config.mask)
    detected = (
        decided_by_rgi
        if decided_by_rgi is not None
        else binary_mask(decided, config.threshold, config.closing)
    )
    anomaly = anomaly.mean(1, keepdim=True)
    latent = z.detach()
    if config.refit_steps:
        image, latent, classes = refit(generator, observation, detected, config, restarts)
    residual = (observation - image).abs().mean(1, keepdim=True)
    return Result(
        image,
        latent,
        classes,
        history,
        time.perf_counter() - started,
        mask=detected,
        generator_state=copies.state() if copies is not None else None,
        extras={"anomaly": anomaly, "residual": residual},
    )


def robust_start(generator: StagedGenerator, observation: Tensor, samples: int, seed: int) -> Init:
    """The best of ``samples`` prior draws (seeded by ``seed``) per observation (N, C, H, W) under the
    L1 distance, which the corrupted pixels pull less than the squared one."""
    rng = torch.Generator().manual_seed(seed)
    return search_latents(generator, observation, Operator(), samples, rng, pixel_metric("l1"))


def holdout_region(observation: Tensor, strokes: int, seed: int) -> Tensor:
    """(N, 1, H, W) {0, 1} for the square observations (N, C, H, W): ``strokes`` free-form strokes
    (1 = held out), drawn from ``HOLDOUT_SEED + seed``, the same for every image, so that an image
    is held out alike alone or in any batch."""
    n, _, h, w = observation.shape
    rng = torch.Generator().manual_seed(HOLDOUT_SEED + seed)
    return (1 - free_form(h, strokes, generator=rng)).to(observation).expand(n, 1, h, w)


def kept_pixel_residual(
    observation: Tensor, runs: Result, restarts: int, scored: Tensor | None = None
) -> Tensor:
    """(N, K): per image and restart, the mean squared residual of G(z) against the observation
    (N, C, H, W) on the pixels that no restart's mask flags (and, given, that ``scored`` (N, 1, H, W)
    marks with 1); ``runs`` holds K·N images, restart-major."""
    n = observation.shape[0]
    images = runs.image.reshape(restarts, *observation.shape)
    assert runs.mask is not None  # every RGI run reports its mask
    flagged = runs.mask.amax(1, keepdim=True).reshape(restarts, n, 1, *observation.shape[2:]).amax(0)
    kept = 1 - flagged if scored is None else (1 - flagged) * scored
    squared = (images - observation).square().mean(2, keepdim=True)
    return ((squared * kept).flatten(2).sum(2) / kept.flatten(1).sum(1).clamp_min(1)).T


def best_of_restarts(
    generator: StagedGenerator,
    observation: Tensor,
    config: RGIConfig,
    discriminator: StagedDiscriminator | None,
    init: Init | None,
    callback: Callback | None,
) -> Result:
    """``rgi`` from ``config.restarts`` starts per image in one batch, the best kept per image
    (module doc). ``init``, when given, is restart 0's start; the others are searched."""
    n, k = observation.shape[0], config.restarts
    starts = restart_starts(
        init, lambda seed: robust_start(generator, observation, config.init_samples, seed), config.seed, k
    )
    single = dataclasses.replace(config, restarts=1)
    observations = repeat_images(observation, k)
    held = (
        holdout_region(observation, config.holdout_strokes, config.seed) if config.holdout_strokes else None
    )
    held_rows = None if held is None else repeat_images(held, k)
    runs = rgi(
        generator, observations, single, discriminator, starts, first_restart(callback, n), k, held_rows
    )
    return choose(runs, kept_pixel_residual(observation, runs, k, held))


CONFIGS: dict[str, type[RGIConfig]] = {"rgi": RGIConfig, "rrgi": RRGIConfig}


def solve(
    prior: Prior,
    observation: Tensor,
    operator: Operator,
    config: RGIConfig,
    *,
    init: Init | None = None,
    callback: Callback | None = None,
) -> Result:
    """The registered methods rgi and rrgi: robust inversion of the corrupted observations (the
    operator is the identity of mask-free corruption; the solver finds the corrupted pixels)."""
    return rgi(prior.generator, observation, config, prior.discriminator, init, callback)
