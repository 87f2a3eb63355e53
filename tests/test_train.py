"""Training: losses move, resume is exact, exports reload identically, the test split is never trained on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior import zoo
from ganprior.classifier import (
    frechet_distance,
    load_classifier,
    save_classifier,
    score_generator,
    train_classifier,
)
from ganprior.cli import main
from ganprior.data import ImageSet, load_dataset
from ganprior.errors import GanpriorError
from ganprior.models import SNGANDiscriminator, SNGANGenerator
from ganprior.train import TrainConfig, Trainer, recalibrate_batchnorm


def blobs(n: int = 64, res: int = 8, seed: int = 0) -> ImageSet:
    """Two easy classes: bright top half vs bright bottom half, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randn(n, 1, res, res, generator=gen) * 0.1 - 0.5
    images[labels == 0, :, : res // 2] += 1
    images[labels == 1, :, res // 2 :] += 1
    return ImageSet(
        images.clamp(-1, 1), labels, ["top", "bottom"], [f"i{i}" for i in range(n)], "blobs", "train"
    )


def tiny_config(**kw) -> TrainConfig:
    base = dict(
        data="blobs",
        resolution=8,
        conditional=True,
        batch=8,
        g_width=16,
        d_width=8,
        latent_dim=8,
        sample_every=1000,
        checkpoint_every=1000,
        augment="translation,cutout",
    )
    return TrainConfig(**{**base, **kw})


def test_staged_contract():
    G = SNGANGenerator(resolution=16, channels=3, latent_dim=8, num_classes=3, width=16).eval()
    D = SNGANDiscriminator(resolution=16, channels=3, num_classes=3, width=8).eval()
    z, y = torch.randn(2, 8), torch.tensor([0, 2])
    x = G(z, y)
    assert x.shape == (2, 3, 16, 16) and x.abs().max() <= 1
    h = G.embed(z, y)
    for i in range(G.num_stages + 1):  # any split point gives the same image
        assert torch.allclose(G.synthesize(G.synthesize(h, 0, i), i), x, atol=1e-6)
    soft = torch.nn.functional.one_hot(y, 3).float()
    assert torch.allclose(G(z, soft), x, atol=1e-6)
    feats = D.features(x)
    assert feats[-1].shape == (2, D.feature_dim) and len(feats) == 3
    assert D(x, y).shape == (2,) and not torch.allclose(D(x, y), D(x, torch.tensor([1, 1])))


def test_a_tiny_gan_trains_and_its_losses_move(tmp_path):
    trainer = Trainer(tiny_config(steps=6), tmp_path / "run", data=blobs())
    before = [p.clone() for p in trainer.G.parameters()]
    stats = [trainer.train_step() for _ in range(6)]
    assert all(np.isfinite(list(s.values())).all() for s in stats)
    assert len({round(s["loss_d"], 6) for s in stats}) > 1 and len({round(s["loss_g"], 6) for s in stats}) > 1
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters(), strict=True))
    ema = dict(trainer.G_ema.named_parameters())
    assert any(not torch.equal(ema[k], p) for k, p in trainer.G.named_parameters())  # EMA lags G


def test_resume_continues_exactly(tmp_path):
    data = blobs()
    straight = Trainer(tiny_config(steps=4), tmp_path / "a", data=data)
    straight.run(progress=False)

    first = Trainer(tiny_config(steps=2), tmp_path / "b", data=data)
    first.run(progress=False)  # checkpoints at its last step
    second = Trainer(tiny_config(steps=4), tmp_path / "b", data=data)
    second.load_checkpoint()
    assert second.step == 2
    second.run(progress=False)
    for name in ("G", "D", "G_ema"):
        a, b = getattr(straight, name).state_dict(), getattr(second, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert torch.equal(straight.gen.get_state(), second.gen.get_state())

    other = Trainer(tiny_config(steps=4, lr_g=1e-3), tmp_path / "b", data=data)
    with pytest.raises(GanpriorError, match="other settings"):
        other.load_checkpoint()


def test_export_reloads_to_identical_outputs(tmp_path):
    trainer = Trainer(tiny_config(steps=3, name="blobby"), tmp_path / "run", data=blobs())
    trainer.run(progress=False)
    path = trainer.export({"note": "test"})
    prior = zoo.load(path)
    assert prior.name == "blobby" and prior.discriminator is not None
    card = prior.card
    for key in ("name", "resolution", "channels", "classes", "architecture", "data", "licence", "source"):
        assert key in card
    assert card["classes"] == ["top", "bottom"] and card["steps"] == 3 and card["data"]["split"] == "train"
    z, y = torch.randn(5, 8), torch.tensor([0, 1, 0, 1, 1])
    with torch.no_grad():
        expected = trainer.exported_generator()(z, y)
        assert torch.equal(prior.generator(z, y), expected)
        x = expected
        assert torch.equal(prior.discriminator(x, y), trainer.D.eval()(x, y))
    # eval mode is batch-independent: one sample alone equals the same sample in a batch
    assert torch.allclose(prior.generator(z[:1], y[:1]), expected[:1], atol=1e-6)


def test_standing_statistics_match_train_mode():
    torch.manual_seed(0)
    G = SNGANGenerator(resolution=8, channels=1, latent_dim=8, width=16)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        recalibrate_batchnorm(G, batch=512, batches=8)
        z = torch.randn(512, 8)
        eval_out = G(z)
        train_out = G.train()(z)
    assert (eval_out - train_out).abs().mean() < 0.05


def _image_folder(root, n=200, classes=("a", "b")):
    rng = np.random.default_rng(0)
    for i in range(n):
        target = root / classes[i % len(classes)] if classes else root
        target.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 60, (24, 24, 3), dtype=np.uint8)
        pixels[: 12 if i % 2 else 24] += 150
        Image.fromarray(pixels).save(target / f"{i:03d}.png")
    return root


def test_cli_trains_a_user_folder_end_to_end_and_never_sees_the_test_split(tmp_path, capsys):
    folder = _image_folder(tmp_path / "photos", classes=())
    out = tmp_path / "run"
    args = ["train", "--data", str(folder), "--res", "16", "--steps", "3", "--batch", "8"]
    args += ["--g-width", "16", "--d-width", "8", "--out", str(out), "--quiet", "--sample-every", "2"]
    assert main(args) == 0
    for name in ("model.safetensors", "card.json", "samples.png", "checkpoint.pt", "log.jsonl"):
        assert (out / name).is_file(), name
    assert (out / "samples" / "step-000002.png").is_file()
    prior = zoo.load(str(out / "model.safetensors"))
    assert prior.generator.resolution == 16 and prior.discriminator is not None
    card = json.loads((out / "card.json").read_text())
    assert card["source"].startswith("trained by ganprior: ganprior train --data")
    # the recorded training set is exactly the train split, disjoint from the test split
    trained = set((out / "train_ids.txt").read_text().split())
    train, test = load_dataset(folder, "train", 16), load_dataset(folder, "test", 16)
    assert trained == set(train.ids) and not trained & set(test.ids) and len(test) >= 20
    assert card["data"]["ids_sha256"] == train.ids_digest
    # nothing is overwritten: a second run into the same folder is refused with exit status 2
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    # --resume on a finished run continues from its checkpoint (here: more steps)
    assert main([*args[:6], "4", *args[7:], "--resume", "--no-eval"]) == 0
    assert json.loads((out / "card.json").read_text())["steps"] == 4


def test_cli_refuses_conditional_without_labels(tmp_path):
    folder = _image_folder(tmp_path / "flat", n=20, classes=())
    code = main(
        ["train", "--data", str(folder), "--res", "16", "--conditional", "--out", str(tmp_path / "o")]
    )
    assert code == 2


def test_classifier_scores_and_frechet_distance(tmp_path):
    train, test = blobs(256, 8, seed=1), blobs(64, 8, seed=2)
    classifier = train_classifier(train, steps=40, batch=32)
    save_classifier(tmp_path / "c.safetensors", classifier)
    loaded = load_classifier(tmp_path / "c.safetensors")
    assert torch.equal(loaded(test.images), classifier.eval()(test.images))
    G = SNGANGenerator(resolution=8, channels=1, latent_dim=8, num_classes=2, width=16).eval()
    scores = score_generator(G, loaded, train, test)
    assert scores["classifier_test_accuracy"] > 0.9
    fd = scores["frechet"]
    assert fd["train_vs_test_floor"] < fd["generated_vs_test"]  # an untrained G is far from the data
    assert set(scores["conditional_accuracy"]["per_class"]) == {"top", "bottom"}
    a = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
    assert frechet_distance(a, a + 2) == pytest.approx(16, rel=1e-6)


@pytest.mark.parametrize(("name", "res", "channels"), [("fashion32", 32, 1), ("emoji64", 64, 3)])
def test_shipped_priors_load_offline_with_their_discriminator_and_classifier(name, res, channels):
    if name not in zoo.model_names():
        pytest.skip(f"{name} is not shipped in this checkout")
    prior = zoo.load(name)
    G, D, card = prior.generator, prior.discriminator, prior.card
    assert D is not None and G.resolution == res and G.channels == channels
    assert card["source"].startswith("trained by ganprior: ganprior train") and card["classes"]
    y = torch.arange(2) % max(G.num_classes, 1) if G.num_classes else None
    with torch.no_grad():
        x = G(torch.randn(2, G.latent_dim), y)
        assert x.shape == (2, channels, res, res) and D(x, y).shape == (2,)
    classifier = load_classifier(name)
    assert classifier.card["classes"] == card["classes"] and classifier(x).shape == (2, len(card["classes"]))
