"""Small image classifiers and Fréchet distances in their feature space (the training scores).

A trained GAN is scored with a classifier that the project trains on the *same data's training
split*: the Fréchet distance between the Gaussians fitted to classifier features of generated
images and of the test split (the FID recipe, with a domain classifier instead of Inception),
reported next to the same distance between the training and test splits (the floor: what a
perfect generator of the training distribution would score at that sample size), and, for a
class-conditional model, how often the classifier labels a sample with its conditioning class.

The classifiers ship in ``ganprior/pretrained/classifiers/`` (``load_classifier("fashion32")``);
later steps use them for adversarial defense and category-transfer checks. Inputs are images
(B, C, H, W) in [-1, 1]; ``features`` gives the pooled penultimate vector, ``forward`` the logits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from .data import ImageSet, load_dataset
from .data.augment import translation
from .errors import GanpriorError
from .files import save_tensors, tensor_metadata
from .models.sampling import sample_prior

BUNDLED_DIR = Path(__file__).parent / "pretrained" / "classifiers"


class SmallClassifier(nn.Module):
    """(B, channels, res, res) in [-1, 1] -> logits (B, num_classes); ``features`` -> (B, feature_dim).

    Blocks of [3×3 conv, BN, ReLU] ×2 + 2×2 max-pool, widths doubling from ``width``, down to 4×4,
    then global average pooling (the feature vector) and a linear layer.
    """

    def __init__(self, resolution: int, channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.config = dict(resolution=resolution, channels=channels, num_classes=num_classes, width=width)
        self.resolution, self.channels, self.num_classes = resolution, channels, num_classes
        n_blocks = int(math.log2(resolution)) - 2
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(n_blocks):
            w = width * 2 ** min(i, 3)
            layers += [
                nn.Conv2d(c_in, w, 3, 1, 1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(),
                nn.Conv2d(w, w, 3, 1, 1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c_in = w
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in
        self.head = nn.Linear(c_in, num_classes)
        self.card: dict[str, Any] = {}

    def features(self, x: Tensor) -> Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 500) -> tuple[Tensor, Tensor]:
        """(labels (N,), features (N, feature_dim)) in eval mode, in batches."""
        was = self.training
        self.eval()
        labels, feats = [], []
        for chunk in x.split(batch):
            f = self.features(chunk)
            feats.append(f)
            labels.append(self.head(f).argmax(1))
        self.train(was)
        return torch.cat(labels), torch.cat(feats)


def train_classifier(
    data: ImageSet, steps: int | None = None, batch: int = 128, seed: int = 0, progress: bool = False
) -> SmallClassifier:
    """Train on ``data`` (labelled) with Adam and random translations; ``steps`` default ~2 epochs, 300-1000."""
    if data.labels is None:
        raise GanpriorError("a classifier needs labelled images (class sub-folders)")
    from tqdm import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n, c, res, _ = data.images.shape
    model = SmallClassifier(res, c, len(data.class_names))
    steps = steps or int(min(1000, max(300, 2 * n / batch)))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    model.train()
    for _ in tqdm(range(steps), disable=not progress, desc="classifier", unit="step"):
        idx = torch.randint(n, (batch,), generator=gen)
        x = translation(data.images[idx], gen, ratio=0.0625)
        loss = nn.functional.cross_entropy(model(x), data.labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    model.card = {
        "classes": list(data.class_names),
        "data": {"dataset": data.name, "split": data.split, "images": n, "ids_sha256": data.ids_digest},
        "recipe": f"Adam + one-cycle (max lr 3e-3), batch {batch}, {steps} steps, translations ±1/16, seed {seed}",
    }
    return model


def save_classifier(path: str | Path, model: SmallClassifier) -> None:
    """Write ``model`` (weights, config and card) to a safetensors file whole."""
    meta = {"config": model.config, "card": model.card}
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_tensors(path, tensors, {"ganprior-classifier": json.dumps(meta)})


def bundled_classifiers() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.safetensors"))}


def load_classifier(name_or_path: str | Path) -> SmallClassifier:
    """A shipped classifier by name (``fashion32``, ``emoji64``) or a classifier file, in eval mode."""
    bundled = bundled_classifiers()
    path = bundled.get(str(name_or_path)) or Path(name_or_path)
    if not path.is_file():
        raise GanpriorError(f"unknown classifier {name_or_path!r}; shipped: {', '.join(bundled) or 'none'}")
    try:
        meta = tensor_metadata(path, "ganprior-classifier")
        state = load_file(str(path))
    except (KeyError, OSError, json.JSONDecodeError, Exception) as exc:
        raise GanpriorError(f"{path} is not a ganprior classifier file: {exc}") from exc
    if meta is None:
        raise GanpriorError(f"{path} is not a ganprior classifier file: it has no classifier metadata")
    model = SmallClassifier(**meta["config"])
    model.load_state_dict(state)
    model.card = meta["card"]
    return model.eval().requires_grad_(False)


def model_classifier(model: str) -> SmallClassifier | None:
    """The classifier shipped for zoo model ``model`` (``class:K`` attributes need one), if any."""
    return load_classifier(model) if model in bundled_classifiers() else None


def find_classifier(dataset: str, resolution: int, channels: int) -> SmallClassifier | None:
    """The shipped classifier trained on ``dataset``'s train split at this resolution, if any."""
    for path in bundled_classifiers().values():
        model = load_classifier(path)
        if (
            model.card.get("data", {}).get("dataset") == dataset
            and model.resolution == resolution
            and model.channels == channels
        ):
            return model
    return None


# ---------------------------------------------------------------------------------------- scores
def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, F) and b (M, F).

    ``|mu_a - mu_b|² + Tr(S_a + S_b - 2 (S_a S_b)^½)``, computed in float64 through the symmetric
    form ``(S_a^½ S_b S_a^½)^½`` so that only symmetric eigen-decompositions are needed.
    """
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = (vecs * vals.clamp(min=0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * middle
    return float(value.clamp(min=0))


def score_generator(
    G: nn.Module,
    classifier: SmallClassifier,
    train: ImageSet,
    test: ImageSet,
    seed: int = 0,
    n_max: int = 10_000,
) -> dict[str, Any]:
    """Fréchet distances (generated vs test, and the train-vs-test floor) and conditional accuracy."""
    G.eval()
    n = min(len(test), n_max)
    rng = np.random.default_rng(seed)
    test_idx = torch.from_numpy(np.sort(rng.choice(len(test), n, replace=False)))
    train_idx = torch.from_numpy(np.sort(rng.choice(len(train), min(n, len(train)), replace=False)))
    conditional = getattr(G, "num_classes", 0) > 0
    labels = test.labels[test_idx] if conditional and test.labels is not None else None
    fake = sample_prior(G, n, seed, classes=labels, chunk=500).images
    fake_pred, fake_feat = classifier.predict(fake)
    test_pred, test_feat = classifier.predict(test.images[test_idx])
    _, train_feat = classifier.predict(train.images[train_idx])
    scores: dict[str, Any] = {
        "frechet": {
            "generated_vs_test": round(frechet_distance(fake_feat, test_feat), 3),
            "train_vs_test_floor": round(frechet_distance(train_feat, test_feat), 3),
            "generated_vs_train": round(frechet_distance(fake_feat, train_feat), 3),
            "samples": n,
            "space": f"{classifier.feature_dim}-d pooled features of the project's classifier "
            f"trained on {train.name}'s train split",
        },
    }
    if test.labels is not None:
        scores["classifier_test_accuracy"] = round(
            float((test_pred == test.labels[test_idx]).float().mean()), 4
        )
    if labels is not None:
        hit = (fake_pred == labels).float()
        per_class = {
            name: round(float(hit[labels == k].mean()), 4)
            for k, name in enumerate(test.class_names)
            if bool((labels == k).any())
        }
        scores["conditional_accuracy"] = {
            "overall": round(float(hit.mean()), 4),
            "per_class": per_class,
            "protocol": f"{n} samples with the test split's labels; the classifier's predicted class vs the "
            "conditioning class",
        }
    return scores


def score_trainer(trainer: Any, progress: bool = False) -> dict[str, Any] | None:
    """Scores for a finished ``ganprior.train.Trainer``: shipped classifier of its data, or one trained now."""
    cfg, train = trainer.cfg, trainer.data
    if train.labels is None:
        return {
            "note": "no class labels: no classifier, so no Fréchet distance (put images in class folders)"
        }
    test = load_dataset(cfg.data, "test", cfg.resolution, trainer.channels)
    classifier = find_classifier(train.name, cfg.resolution, trainer.channels)
    if classifier is None:
        classifier = train_classifier(train, seed=cfg.seed, progress=progress)
        save_classifier(trainer.out / "classifier.safetensors", classifier)
        source = "classifier.safetensors (trained now on the train split)"
    else:
        source = f"shipped classifier trained on {train.name}'s train split"
    scores = score_generator(trainer.exported_generator(), classifier, train, test, seed=cfg.seed)
    scores["classifier"] = source
    return scores
