"""RGI / R-RGI: recover a planted sparse corruption and the clean image, batched exactly, and
mask-free inpainting through the pipeline and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from conftest import tiny_generator
from ganprior import metrics
from ganprior.anomaly import auroc, dice_iou
from ganprior.checkpoint import Prior
from ganprior.cli import main
from ganprior.physics import Corruption, Mask
from ganprior.pipeline import restore
from ganprior.robust import fallback_lambda
from ganprior.solvers.base import Result
from ganprior.solvers.rgi import (
    RESTARTS,
    RGIConfig,
    binary_mask,
    holdout_region,
    kept_pixel_residual,
    preset,
    rgi,
    settled_mask,
)

LAM = fallback_lambda(3)
HOLDOUT = 2  # held-out strokes of the restarts' scoring, as benchmarks/rgi.py's row


def planted(g, n: int = 3, seed: int = 7, fraction: float = 0.1):
    """Images of ``g`` with a random ``fraction`` of pixels replaced by −1 + N(0, 1): (clean, observed, mask)."""
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = g(torch.randn(n, g.latent_dim, generator=rng))
    corrupted = (torch.rand(n, 1, g.resolution, g.resolution, generator=rng) < fraction).float()
    return clean, Corruption(1 - corrupted).simulate(clean, rng), corrupted


@pytest.mark.parametrize("method", ["rgi", "rrgi"])
def test_recovers_planted_mask_and_clean_image(tiny, method):
    clean, observed, corrupted = planted(tiny)
    result = rgi(tiny, observed, preset(method, "inpaint", LAM, steps=100, init_samples=100))
    assert auroc(result.extras["anomaly"], corrupted) >= 0.95
    _, iou = dice_iou(result.mask, corrupted)
    assert iou.min() > 0.8
    assert metrics.psnr(result.image, clean).min() > 30  # the clean image, not the corrupted one
    assert metrics.psnr(observed, clean).max() < 20


def test_anomaly_preset_flags_the_corruption(tiny):
    clean, observed, corrupted = planted(tiny, n=2, seed=3, fraction=0.05)
    result = rgi(tiny, observed, preset("rrgi", "anomaly", LAM, steps=80, init_samples=100))
    assert auroc(result.extras["anomaly"], corrupted) >= 0.95
    plain = (observed - clean).abs().mean(1, keepdim=True)  # sanity: the map is not the corruption itself
    assert not torch.equal(result.extras["anomaly"], plain)


@pytest.mark.parametrize("purpose", ["anomaly", "inpaint"])  # inpaint: two λ
def test_batched_equals_one_at_a_time(tiny, purpose):
    _, observed, _ = planted(tiny, n=2, seed=5)
    config = preset("rrgi", purpose, LAM, steps=12, init_samples=20)
    batched = rgi(tiny, observed, config)
    for i in range(2):
        single = rgi(tiny, observed[i : i + 1], config)
        assert torch.allclose(single.image, batched.image[i : i + 1], atol=1e-4)
        assert torch.allclose(single.extras["anomaly"], batched.extras["anomaly"][i : i + 1], atol=1e-4)
        assert torch.equal(single.mask, batched.mask[i : i + 1])
        for name, value in single.generator_state.items():
            assert torch.allclose(value, batched.generator_state[name][i : i + 1], atol=1e-4)


def test_rrgi_fine_tunes_per_image_and_freezes_the_mask_for_inpainting(tiny):
    _, observed, _ = planted(tiny, n=2)
    config = RGIConfig(steps=6, warmup=3, init_samples=5, lam=LAM)
    history = []
    rgi(tiny, observed, config, callback=lambda step, loss: history.append(step))
    frozen = rgi(tiny, observed, config)
    earlier = rgi(tiny, observed, RGIConfig(steps=4, warmup=3, init_samples=5, lam=LAM))
    # the mask moved during the first 3 steps only; step 4 onwards it stays put
    assert torch.equal(frozen.extras["anomaly"], earlier.extras["anomaly"])
    learning = rgi(
        tiny, observed, RGIConfig(steps=6, warmup=3, init_samples=5, lam=LAM, learn_mask_after_warmup=True)
    )
    assert not torch.equal(learning.extras["anomaly"], earlier.extras["anomaly"])
    weight = frozen.generator_state["stages.0.0.weight"]
    assert weight.shape[0] == 2 and not torch.equal(weight[0], weight[1])
    assert history == list(range(6))


def test_anomaly_schedule_holds_the_mask_until_the_generator_fine_tunes(tiny):
    _, observed, _ = planted(tiny, n=2)
    config = preset("rrgi", "anomaly", LAM, steps=8)
    assert config.mask_from == config.warmup == 2 and config.learn_mask_after_warmup
    held = rgi(tiny, observed, replace(config, steps=2, init_samples=5))
    assert torch.equal(held.extras["anomaly"], torch.zeros_like(held.extras["anomaly"]))
    learning = rgi(tiny, observed, replace(config, init_samples=5))
    assert learning.extras["anomaly"].amax() > 0


def test_pipeline_mask_free_inpainting_scores_the_hole(tiny):
    prior = Prior("tiny", tiny, None, {})
    clean, _, _ = planted(tiny, n=2, seed=9)
    out = restore(prior, clean, "inpaint", "rgi", simulate=True, steps=100)
    hole = out.operator.hole()
    assert torch.equal(out.observation * (1 - hole), clean * (1 - hole))  # only the hole was corrupted
    assert {"psnr", "psnr_hole"} <= set(out.metrics)
    assert out.metrics["psnr"].min() > 25
    _, iou = dice_iou(out.result.mask, hole.expand_as(out.result.mask))
    assert iou.min() > 0.8


def test_restore_cli_writes_the_detected_mask(tmp_path):
    from ganprior.checkpoint import save_prior
    from ganprior.imageio import load_image, save_image

    g = tiny_generator()
    checkpoint = tmp_path / "tiny.safetensors"
    save_prior(checkpoint, Prior("tiny", g, None, {"name": "tiny"}))
    clean, observed, corrupted = planted(g, n=1, seed=2)
    save_image(observed[0], tmp_path / "photo.png")
    out = tmp_path / "out"
    code = main(
        ["restore", str(tmp_path / "photo.png"), "--task", "inpaint", "--method", "rgi", "--model", str(checkpoint),
         "--steps", "100", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    report = json.loads((out / "photo.json").read_text())
    detected = load_image(out / report["detected_mask"], 16, 1) < 0  # black = corrupted
    assert auroc(detected.float(), corrupted[0]) > 0.9
    restored = load_image(out / "photo_restored.png", 16, 3)
    assert metrics.psnr(restored[None], clean).item() > metrics.psnr(observed, clean).item() + 8


def test_rgi_refuses_other_tasks(tiny):
    from ganprior.errors import GanpriorError

    with pytest.raises(GanpriorError, match="mask-free inpainting"):
        restore(Prior("tiny", tiny, None, {}), torch.zeros(1, 3, 16, 16), "sr", "rgi", simulate=True, steps=2)


def test_closing_fills_a_stroke_gap_and_keeps_isolated_pixels():
    anomaly = torch.zeros(1, 1, 11, 11)
    anomaly[0, 0, 5, 3:8] = 0.9
    anomaly[0, 0, 5, 5] = 0.2  # a corrupted pixel inside the stroke that looked plausible
    anomaly[0, 0, 2, 8] = 0.9  # an isolated detection
    plain, closed = binary_mask(anomaly, 0.5), binary_mask(anomaly, 0.5, closing=3)
    added = torch.zeros_like(plain)
    added[0, 0, 5, 5] = 1
    assert torch.equal(closed - plain, added)


def test_rgi_options_reach_the_solver_and_unknown_ones_are_refused(tiny):
    from ganprior.errors import GanpriorError

    prior = Prior("tiny", tiny, None, {})
    clean, _, _ = planted(tiny, n=1, seed=9)
    closed = restore(prior, clean, "inpaint", "rgi", simulate=True, steps=20, options={"closing": 3})
    plain = restore(prior, clean, "inpaint", "rgi", simulate=True, steps=20)
    assert torch.equal(closed.result.mask, binary_mask(plain.result.extras["anomaly"], 0.5, 3))
    with pytest.raises(GanpriorError, match="no option 'colour'"):
        restore(prior, clean, "inpaint", "rgi", simulate=True, steps=2, options={"colour": 1})


def test_gap_decomposition_charges_misses_and_false_alarms_to_the_right_pixels(tiny):
    from benchmarks.rgi import gap_rows
    from ganprior.solvers import Result

    clean, observed, corrupted = planted(tiny, fraction=0.2)
    generated = clean + 0.1  # a fit that is off everywhere by the same amount
    detected = corrupted.clone()
    detected[:, :, :4] = 0  # miss the corrupted pixels of the top 4 rows
    detected[:, :, -1] = 1  # and flag the bottom row, clean pixels included
    found = Result(generated, torch.zeros(3, tiny.latent_dim), None, torch.zeros(1, 3), 0.0, mask=detected)
    rows = {(r["G(z) from"], r["mask"]): r for r in gap_rows(clean, 1 - corrupted, observed, clean, found)}
    exact = rows["oracle's", "true"]
    assert exact["psnr (median)"] > 60 and exact["error share, misses"] == 0
    missed = rows["oracle's", "detected"]
    assert missed["error share, misses"] == pytest.approx(1.0)  # the oracle's G(z) is exact: misses are all
    assert missed["psnr (median)"] < 40
    offset = rows["RGI's", "detected"]
    assert 0 < offset["error share, false alarms"] < 1 and 0 < offset["error share, misses"] < 1
    assert rows["RGI's", "true"]["psnr (median)"] > offset["psnr (median)"]


def test_refit_keeps_the_detected_mask_and_fits_a_fresh_latent(tiny):
    clean, observed, _ = planted(tiny)
    config = preset("rgi", "inpaint", LAM, steps=100, init_samples=100)
    plain = rgi(tiny, observed, config)
    refitted = rgi(tiny, observed, replace(config, refit_steps=100))
    assert torch.equal(refitted.mask, plain.mask)
    assert not torch.allclose(refitted.latent, plain.latent)
    assert metrics.psnr(refitted.image, clean).min() > 30
    with pytest.raises(ValueError, match="applies to RGI"):
        preset("rrgi", "inpaint", LAM, refit_steps=10)


@pytest.mark.parametrize("decide", ["final", "rgi"])
def test_two_lambda_fits_a_generous_mask_and_reports_the_calibrated_one(tiny, decide):
    clean, observed, corrupted = planted(tiny)
    config = preset("rrgi", "inpaint", LAM, steps=100, init_samples=100, fit_fraction=0.15, decide=decide)
    result = rgi(tiny, observed, config)
    fitted = (result.extras["anomaly"] > 0.5).float()
    assert (fitted * corrupted).sum() > 0.95 * corrupted.sum()  # the fit's mask shields the corruption
    _, iou = dice_iou(result.mask, corrupted)
    assert iou.min() > 0.8  # the reported mask finds the planted corruption
    kept = (1 - result.mask) * (1 - corrupted)
    assert kept.sum() > 0.95 * (1 - corrupted).sum()  # and keeps (almost) every clean pixel
    restored = Mask(1 - result.mask).project(result.image, observed)
    assert metrics.psnr(restored, clean).min() > 30


def test_two_lambda_deciding_by_rgi_reports_the_frozen_fits_mask_and_the_fine_tuned_image(tiny):
    from ganprior.errors import GanpriorError

    _, observed, _ = planted(tiny, seed=11)
    config = preset("rrgi", "inpaint", LAM, steps=60, init_samples=50, closing=3, restarts=1)
    assert config.decide == "rgi" and config.total_steps() == 120  # R-RGI inpainting's preset
    two = rgi(tiny, observed, config)
    frozen = rgi(tiny, observed, preset("rgi", "inpaint", LAM, steps=60, init_samples=50, closing=3))
    assert torch.equal(two.mask, frozen.mask)  # the calibrated mask is RGI's at λ
    assert two.generator_state is not None and not torch.allclose(two.image, frozen.image)
    with pytest.raises(GanpriorError, match="decide must be one of"):
        replace(config, decide="union")


def test_settled_mask_flags_a_pixel_exactly_when_its_squared_residual_exceeds_lambda():
    residual = torch.tensor([0.5, 0.9, 1.1, 2.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    lam = 3.0  # summed over 3 channels, r² = 3 · r_c²: flagged when r_c² > 1
    flagged = settled_mask(residual, lam, "pixel") > 0.5
    assert flagged.flatten().tolist() == [False, False, True, True]
    per_channel = settled_mask(residual, lam, "channel")  # λ / C per element: the same threshold
    assert per_channel.shape == (1, 3, 2, 2) and torch.equal(per_channel > 0.5, flagged.expand(1, 3, 2, 2))


def test_per_channel_mask_has_the_image_shape_through_the_pipeline(tiny):
    from ganprior.errors import GanpriorError

    prior = Prior("tiny", tiny, None, {})
    clean, _, _ = planted(tiny, n=2, seed=9)
    out = restore(prior, clean, "inpaint", "rgi", simulate=True, steps=20, options={"mask": "channel"})
    assert out.result.mask.shape == clean.shape  # (N, C, H, W), as the reference's
    assert out.result.extras["anomaly"].shape == (2, 1, 16, 16)  # the map stays gray
    kept = out.result.mask == 0
    assert torch.equal(out.restored[kept], out.observation.clamp(-1, 1)[kept])  # composited per channel
    with pytest.raises(GanpriorError, match="mask must be one of"):
        RGIConfig(mask="colour")


def test_restarts_keep_per_image_the_run_that_fits_the_pixels_no_run_flags(tiny):
    from ganprior.errors import GanpriorError

    clean, observed, _ = planted(tiny, n=4, seed=13, fraction=0.15)
    config = preset("rgi", "inpaint", LAM, steps=25, init_samples=2, restarts=3)
    seen = []
    best = rgi(tiny, observed, config, callback=lambda step, losses: seen.append(losses.shape))
    assert seen == [(4,)] * 25  # a progress bar sees the N images, not K·N
    runs = [rgi(tiny, observed, replace(config, restarts=1, seed=config.seed + r)) for r in range(3)]
    kept = 1 - torch.stack([run.mask for run in runs]).amax(0)
    fit = torch.stack(
        [((run.image - observed).square().mean(1, keepdim=True) * kept).flatten(1).sum(1) for run in runs], 1
    )
    chosen = fit.argmin(1)
    assert torch.equal(best.extras["restart"], chosen)
    assert len(set(chosen.tolist())) > 1  # the starts differ enough that different images pick different runs
    for i, r in enumerate(chosen.tolist()):  # each image is its chosen run, as if run alone with that seed
        assert torch.allclose(best.image[i], runs[r].image[i], atol=1e-4)
        assert torch.equal(best.mask[i], runs[r].mask[i])
    psnr = torch.stack([metrics.psnr(run.image, clean) for run in runs], 1)
    assert metrics.psnr(best.image, clean).mean() > psnr[:, 0].mean()  # a better fit is a better image
    assert preset("rrgi", "inpaint", LAM).restarts == RESTARTS and preset("rgi", "inpaint", LAM).restarts == 1
    with pytest.raises(GanpriorError, match="restarts must be at least 1"):
        replace(config, restarts=0)


def test_rrgi_restarts_keep_the_chosen_runs_generator_copies(tiny):
    _, observed, _ = planted(tiny, n=2, seed=17)
    config = preset("rrgi", "inpaint", LAM, steps=12, init_samples=2)
    best = rgi(tiny, observed, config)
    assert best.image.shape == observed.shape and best.losses.shape == (12, 2)
    for i, r in enumerate(best.extras["restart"].tolist()):
        alone = rgi(tiny, observed[i : i + 1], replace(config, restarts=1, seed=config.seed + r))
        for name, value in alone.generator_state.items():
            assert torch.allclose(value[0], best.generator_state[name][i], atol=1e-4)


def test_restarts_scored_on_held_out_strokes_keep_the_run_that_predicts_them_best(tiny):
    _, observed, _ = planted(tiny, n=2, seed=17)
    config = preset("rrgi", "inpaint", LAM, steps=12, init_samples=2, holdout_strokes=HOLDOUT)
    best = rgi(tiny, observed, config)
    held = holdout_region(observed, HOLDOUT, config.seed)
    alone = [
        rgi(tiny, observed, replace(config, restarts=1, seed=config.seed + r), held_out=held)
        for r in range(RESTARTS)
    ]
    unflagged = 1 - torch.stack([run.mask for run in alone]).amax(0)
    scores = torch.stack(
        [
            ((run.image - observed).square().mean(1, keepdim=True) * unflagged * held).flatten(1).sum(1)
            for run in alone
        ],
        1,
    ) / (unflagged * held).flatten(1).sum(1, keepdim=True)
    assert torch.allclose(best.extras["restart_scores"], scores, rtol=1e-4)  # scored on held-out pixels only
    for i, r in enumerate(best.extras["restart"].tolist()):
        for name, value in alone[r].generator_state.items():
            assert torch.allclose(value[i], best.generator_state[name][i], atol=1e-4)


def test_the_fit_never_sees_the_held_out_pixels_but_the_reported_mask_does(tiny):
    _, observed, _ = planted(tiny, n=2, seed=19)
    config = preset("rrgi", "inpaint", LAM, steps=15, init_samples=5, restarts=1)
    held = holdout_region(observed, 3, seed=0)
    init = (torch.randn(2, tiny.latent_dim, generator=torch.Generator().manual_seed(2)), None)
    scrawled = observed + held * 1.5  # held-out pixels pushed far out of range
    fitted = rgi(tiny, observed, config, init=init, held_out=held)
    other = rgi(tiny, scrawled, config, init=init, held_out=held)
    assert torch.equal(fitted.image, other.image)  # the fit (and G's fine-tuning) never saw them
    assert other.mask[held.bool()].mean() > 0.9 > fitted.mask[held.bool()].mean()  # RGI's mask does


def test_held_out_strokes_are_seeded_the_same_for_every_image_alone_or_batched():
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    region = holdout_region(images, HOLDOUT, seed=4)
    assert region.shape == (3, 1, 64, 64) and set(region.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(region[1:2], holdout_region(images[1:2], HOLDOUT, seed=4))
    assert torch.equal(region[0], region[2]) and not torch.equal(region, holdout_region(images, HOLDOUT, 5))
    assert 0.02 < region.mean() < 0.2  # a few percent of the pixels: most are still fitted


def test_scoring_on_held_out_pixels_prefers_the_run_that_predicts_them():
    observation = torch.zeros(1, 3, 8, 8)
    held = torch.zeros(1, 1, 8, 8)
    held[..., :2, :4] = 1  # 8 of the 64 pixels
    memorised = observation + 0.5 * held  # exact where fitted, wrong where it never saw the data
    smooth = observation + 0.2  # a little off everywhere, held-out pixels included
    nothing_flagged = torch.zeros(2, 1, 8, 8)
    runs = Result(
        torch.cat([memorised, smooth]), torch.zeros(2, 1), None, torch.zeros(1, 2), 0.0, nothing_flagged
    )
    on_all_pixels = kept_pixel_residual(observation, runs, 2)
    on_held_out = kept_pixel_residual(observation, runs, 2, held)
    assert on_all_pixels.argmin().item() == 0  # the memorised run
    assert on_held_out.argmin().item() == 1  # the one that generalises


def test_holdout_needs_a_mask_decided_over_every_pixel():
    from ganprior.errors import GanpriorError

    with pytest.raises(GanpriorError, match="holdout_strokes needs fit_fraction"):
        RGIConfig(restarts=2, holdout_strokes=2)
    with pytest.raises(GanpriorError, match="holdout_strokes must be 0 or more"):
        RGIConfig(holdout_strokes=-1)
    assert preset("rrgi", "inpaint", LAM).holdout_strokes == 0  # the preset scores on the fitted pixels


def test_restarts_refit_each_restart_as_if_it_ran_alone(tiny):
    _, observed, _ = planted(tiny, n=2, seed=23)
    config = preset("rgi", "inpaint", LAM, steps=10, init_samples=3, refit_steps=10, restarts=2)
    best = rgi(tiny, observed, config)
    alone = [rgi(tiny, observed, replace(config, restarts=1, seed=config.seed + r)) for r in range(2)]
    assert not torch.allclose(alone[0].latent, alone[1].latent)  # the refits start apart
    for i, r in enumerate(best.extras["restart"].tolist()):
        assert torch.allclose(best.image[i], alone[r].image[i], atol=1e-4)
        assert torch.allclose(best.latent[i], alone[r].latent[i], atol=1e-4)
