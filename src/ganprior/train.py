"""Train a GAN prior (staged generator + discriminator) on a dataset or a folder of images.

The recipe, chosen for small data on a CPU (each choice is recorded in the model card):

- hinge loss (Lim & Ye 2017; SNGAN, BigGAN): bounded D targets, stable with spectral norm;
- spectral norm on every discriminator layer (Miyato et al. 2018): a 1-Lipschitz-ish D without
  the cost of a gradient penalty (which would double the D step on a CPU);
- projection discriminator for class-conditional models (Miyato & Koyama 2018);
- Adam(lr 2e-4, betas 0.5/0.999), one D step per G step (DCGAN/DiffAugment-style settings, fine for
  these small networks);
- EMA of the generator weights (decay 0.999, warm-up ``(1+t)/(10+t)``), exported instead of the raw G;
- DiffAugment (translation + cutout, + colour for colour images) when the training set is small
  (< 20,000 images), none otherwise: with tens of thousands of images D does not memorise the set
  within a CPU budget, and on small sets augmentation is what prevents D from overfitting.

Everything random goes through one ``torch.Generator`` seeded from ``seed`` whose state is in the
checkpoint, so ``resume`` continues exactly where an interrupted run stopped.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .checkpoint import Prior, save_prior
from .data import DATASETS, ImageSet, load_dataset
from .data.augment import diff_augment, parse_policy
from .errors import GanpriorError
from .files import atomic_write, probe_writable
from .imageio import grid, save_image
from .models import build
from .models.sampling import sample_prior
from .report import write_json

CHECKPOINT = "checkpoint.pt"
MODEL = "model.safetensors"
SMALL_SET = 20_000
_STATE_KEYS = ("config", "step", "wall_time", "G", "D", "G_ema", "opt_g", "opt_d", "gen", "torch_rng")
_FREE_ON_RESUME = {"steps", "command", "sample_every", "checkpoint_every", "log_every"}
"""Settings a resumed run may change: they say how long to train and what to write on the way."""
_NORMS = {"bn": "batch norm with standing statistics", "pixel": "pixel norm"}


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint and the card)."""

    data: str
    resolution: int = 32
    channels: int | None = None
    conditional: bool = False
    arch: str = "sngan"
    steps: int = 5000
    batch: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = 0.999
    augment: str = "auto"
    latent_dim: int = 128
    g_width: int = 256
    d_width: int = 64
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 250
    log_every: int = 25
    name: str = ""
    command: str = ""
    generator_options: dict[str, Any] = field(default_factory=dict)
    discriminator_options: dict[str, Any] = field(default_factory=dict)

    def policy(self, n_images: int, channels: int) -> str:
        """The augmentation policy actually used ('auto' resolved by the data size)."""
        if self.augment != "auto":
            parse_policy(self.augment)
            return self.augment
        if n_images >= SMALL_SET:
            return "none"
        return "color,translation,cutout" if channels == 3 else "translation,cutout"


# ------------------------------------------------------------------------------------------ helpers
def build_models(cfg: TrainConfig, channels: int, num_classes: int) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator a config asks for (``arch`` and ``arch + '-d'``)."""
    g_config = dict(
        resolution=cfg.resolution,
        channels=channels,
        latent_dim=cfg.latent_dim,
        num_classes=num_classes,
        width=cfg.g_width,
        **cfg.generator_options,
    )
    d_config = dict(
        resolution=cfg.resolution,
        channels=channels,
        num_classes=num_classes,
        width=cfg.d_width,
        **cfg.discriminator_options,
    )
    try:
        return build(cfg.arch, g_config), build(f"{cfg.arch}-d", d_config)
    except ValueError as exc:
        raise GanpriorError(f"cannot build {cfg.arch!r} at {cfg.resolution} px: {exc}") from exc


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p, 1 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, batch: int = 128, batches: int = 8, seed: int = 0) -> nn.Module:
    """Standing statistics: set every BatchNorm's running mean/var to the average over fresh samples.

    The EMA generator's weights never ran in train mode, so its running statistics (copied from the
    raw G) do not match it; recomputing them makes the eval-mode generator (what inversion uses, a
    batch-independent function) produce what train mode would. Returns G in eval mode.
    """
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return G.eval()
    gen = torch.Generator().manual_seed(seed)
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    G.train()
    for _ in range(batches):
        sample_prior(G, batch, gen)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    return G.eval()


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------ trainer
class Trainer:
    """One training run in ``out``: state, step, checkpoint, samples, export."""

    def __init__(self, cfg: TrainConfig, out: str | Path, data: ImageSet | None = None) -> None:
        self.cfg, self.out = cfg, Path(out)
        self.data = (
            data if data is not None else load_dataset(cfg.data, "train", cfg.resolution, cfg.channels)
        )
        if len(self.data) < 2:
            raise GanpriorError(f"{cfg.data} has only {len(self.data)} training images")
        if cfg.conditional and self.data.labels is None:
            raise GanpriorError(
                f"--conditional needs class labels; {cfg.data} has none (put images into class sub-folders)"
            )
        self.channels = self.data.images.shape[1]
        self.num_classes = len(self.data.class_names) if cfg.conditional else 0
        self.policy = cfg.policy(len(self.data), self.channels)
        torch.manual_seed(cfg.seed)
        self.G, self.D = build_models(cfg, self.channels, self.num_classes)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), cfg.lr_d, betas=cfg.betas)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step, self.wall_time = 0, 0.0
        self._exported: tuple[int, nn.Module] | None = None
        sample_gen = torch.Generator().manual_seed(cfg.seed + 1)
        n_rows = max(1, min(self.num_classes, 10)) if self.num_classes else 8
        self.sample_z = self.G.sample_latent(n_rows * 8, generator=sample_gen)
        self.sample_y = (
            torch.arange(n_rows).repeat_interleave(8) if self.num_classes else None
        )  # one row per class

    # -------------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        return {
            "config": json.dumps(asdict(self.cfg)),
            "step": self.step,
            "wall_time": self.wall_time,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def save_checkpoint(self) -> Path:
        path = self.out / CHECKPOINT
        with atomic_write(path) as part:
            torch.save(self.state(), part)
        return path

    def load_checkpoint(self, path: Path | None = None) -> None:
        path = path or self.out / CHECKPOINT
        from .formats.base import read_torch_file

        state = read_torch_file(path)
        try:
            saved = json.loads(state["config"])
            missing = sorted(set(_STATE_KEYS) - set(state))
        except (TypeError, KeyError, ValueError):
            missing = ["config"]
        if missing:
            raise GanpriorError(
                f"{path} is not a training checkpoint of ganprior (no {', '.join(missing)}); "
                "train into a new --out folder"
            )
        ours = json.loads(json.dumps(asdict(self.cfg)))
        differ = [k for k in saved if k not in _FREE_ON_RESUME and saved[k] != ours.get(k)]
        if differ:
            raise GanpriorError(
                f"{path} was trained with other settings ({', '.join(f'{k}={saved[k]!r}' for k in differ)}); "
                "resume with the same options, or train into a new --out folder"
            )
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.G_ema.load_state_dict(state["G_ema"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.gen.set_state(state["gen"])
            torch.set_rng_state(state["torch_rng"])
            self.step, self.wall_time = int(state["step"]), float(state["wall_time"])
        except (RuntimeError, TypeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanpriorError(
                f"{path} is damaged or of another model ({first}); train into a new --out"
            ) from exc

    # -------------------------------------------------------------------- one step
    def _batch(self) -> tuple[Tensor, Tensor | None]:
        idx = torch.randint(len(self.data), (self.cfg.batch,), generator=self.gen)
        labels = self.data.labels[idx] if self.num_classes else None
        return self.data.images[idx], labels

    def _fake_inputs(self) -> tuple[Tensor, Tensor | None]:
        z = self.G.sample_latent(self.cfg.batch, self.gen)
        if not self.num_classes:
            return z, None
        # classes as often as they occur in the data (a projection D learns the class prior too)
        idx = torch.randint(len(self.data), (self.cfg.batch,), generator=self.gen)
        return z, self.data.labels[idx]

    def train_step(self) -> dict[str, float]:
        """One D update and one G update (hinge loss, DiffAugment on both), then the EMA update."""
        G, D, aug = self.G, self.D, self.policy
        real, y_real = self._batch()
        z, y_fake = self._fake_inputs()
        with torch.no_grad():
            fake = G(z, y_fake)
        d_real = D(diff_augment(real, aug, self.gen), y_real)
        d_fake = D(diff_augment(fake, aug, self.gen), y_fake)
        loss_d = hinge_d(d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        z, y_fake = self._fake_inputs()
        D.requires_grad_(False)
        loss_g = -D(diff_augment(G(z, y_fake), aug, self.gen), y_fake).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        self.step += 1
        ema_update(self.G_ema, G, min(self.cfg.ema, (1 + self.step) / (10 + self.step)))
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": d_real.mean().item(),
            "d_fake": d_fake.mean().item(),
        }

    # -------------------------------------------------------------------- samples / export
    def exported_generator(self) -> nn.Module:
        """A copy of the EMA generator with standing batch-norm statistics, in eval mode (cached per step)."""
        if self._exported is None or self._exported[0] != self.step:
            G = recalibrate_batchnorm(copy.deepcopy(self.G_ema), seed=self.cfg.seed + 2)
            self._exported = (self.step, G.requires_grad_(False))
        return self._exported[1]

    @torch.no_grad()
    def samples(self) -> Tensor:
        return self.exported_generator()(self.sample_z, self.sample_y)

    def save_samples(self, path: Path) -> Path:
        return save_image(
            grid(self.samples(), 8, rgb=False), path, scale=2 if self.cfg.resolution <= 32 else 1
        )

    def card(self) -> dict[str, Any]:
        cfg, data = self.cfg, self.data
        spec = DATASETS.get(cfg.data)
        return {
            "name": cfg.name or self.out.name,
            "resolution": cfg.resolution,
            "channels": self.channels,
            "classes": list(data.class_names) if self.num_classes else [],
            "architecture": (
                f"{cfg.arch}: staged generator ({_params(self.G) / 1e6:.2f}M parameters, "
                f"{_NORMS.get(self.G.config.get('norm', ''), 'no norm')}, {self.G.num_stages} stages) + "
                f"spectral-norm {'projection ' if self.num_classes else ''}"
                f"discriminator ({_params(self.D) / 1e6:.2f}M parameters)"
            ),
            "data": {
                "dataset": cfg.data,
                "split": "train",
                "images": len(data),
                "ids_sha256": data.ids_digest,
                "split_rule": data.info.get("split_rule", "seeded: 10% of the files held out (seed 0)"),
            },
            "licence": spec.licence if spec else "the licence of your training images",
            "source": f"trained by ganprior: {cfg.command}" if cfg.command else "trained by ganprior",
            "recipe": {
                "loss": "hinge",
                "discriminator": "spectral norm" + (", class projection" if self.num_classes else ""),
                "optimizer": f"Adam lr_G {cfg.lr_g}, lr_D {cfg.lr_d}, betas {list(cfg.betas)}, 1 D step per G step",
                "batch": cfg.batch,
                "ema": cfg.ema,
                "augment": self.policy,
                "seed": cfg.seed,
                "why": "small-data CPU recipe: hinge + spectral norm is stable without a gradient penalty; "
                "EMA smooths the generator; DiffAugment on sets under 20k images keeps D from memorising them",
            },
            "steps": self.step,
            "wall_time_s": round(self.wall_time, 1),
        }

    def export(self, scores: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors`` (EMA generator + discriminator + card), ``card.json``, ``samples.png``."""
        card = self.card()
        card["samples"] = "samples.png"
        if scores is not None:
            card["scores"] = scores
        G = copy.deepcopy(self.exported_generator())
        D = copy.deepcopy(self.D).eval()
        path = self.out / MODEL
        save_prior(path, Prior(card["name"], G, D, card))  # type: ignore[arg-type]
        write_json(card, self.out / "card.json")
        self.save_samples(self.out / "samples.png")
        return path

    # -------------------------------------------------------------------- the loop
    def run(self, progress: bool = True) -> Path:
        """Train up to ``cfg.steps`` (from the current step), checkpointing and sampling on the way."""
        from tqdm import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        ids = self.out / "train_ids.txt"
        if not ids.exists():
            ids.write_text("\n".join(self.data.ids) + "\n")
        cfg = self.cfg
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not progress, unit="step", dynamic_ncols=True)
        log = open(self.out / "log.jsonl", "a")  # noqa: SIM115 - closed below
        try:
            start = time.perf_counter()
            while self.step < cfg.steps:
                stats = self.train_step()
                now = time.perf_counter()
                self.wall_time += now - start
                start = now
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items() if k.startswith("loss")})
                    log.write(
                        json.dumps({"step": self.step, "wall_s": round(self.wall_time, 2), **stats}) + "\n"
                    )
                    log.flush()
                if self.step % cfg.sample_every == 0:
                    self.save_samples(self.out / "samples" / f"step-{self.step:06d}.png")
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save_checkpoint()
                start = time.perf_counter()
        finally:
            bar.close()
            log.close()
        return self.out


def prepare_out(out: Path, resume: bool) -> bool:
    """Check the output folder; True if there is a checkpoint to resume from. Without one, resuming
    follows the rule of a new run: the folder must be new or empty (nothing is overwritten)."""
    if out.exists() and not out.is_dir():
        raise GanpriorError(f"--out {out} is a file; give a folder")
    has_checkpoint = (out / CHECKPOINT).is_file()
    if resume and has_checkpoint:
        probe_writable(out)
        return True
    if out.exists() and any(out.iterdir()):
        hint = (
            f"it holds no {CHECKPOINT} to resume from"
            if resume
            else "pass --resume to continue it"
            if has_checkpoint
            else "choose a new or empty folder"
        )
        raise GanpriorError(f"output folder {out} is not empty; {hint} (nothing is overwritten)")
    probe_writable(out)
    return False
