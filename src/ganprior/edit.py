"""Image manipulation with DGP (Pan et al. 2020, §4.3): reconstruct an image by fine-tuning the
generator (the "manipulate" schedule), then move in the tuned generator's latent or class space.

- ``jitter``: z + σε for every σ — variations of the image that keep its identity;
- ``morph``: interpolate z, the class vector AND every tuned generator weight between two images;
- ``transfer``: keep the tuned generator and z, change the class (conditional models).

Images are (N, C, H, W) in [-1, 1]; a ``Reconstruction`` keeps each image's tuned parameters
{name: (N, ...)}, latent (N, d) and class vector (N, K) | None.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from .checkpoint import Prior
from .errors import GanpriorError
from .files import save_tensors, tensor_metadata
from .metrics import psnr
from .physics import Operator
from .solvers import Callback
from .solvers.dgp import DGPConfig, manipulation_schedule, render, solve


@dataclass
class Reconstruction:
    """N images fitted by DGP: tuned parameters {name: (N, ...)}, latents (N, d), classes (N, K) | None,
    and the reconstructions themselves (N, C, H, W)."""

    state: dict[str, Tensor]
    latent: Tensor
    classes: Tensor | None
    image: Tensor

    def save(self, path: str | Path, prior: Prior, observation: Tensor, info: dict) -> Path:
        """Write image 0 of this reconstruction (its latent, class, tuned weights and image) with the
        fitted input ``observation`` (C, H, W) and ``info`` (method, settings) as one safetensors file."""
        tensors = {"latent": self.latent[:1], "image": self.image[:1], "observation": observation[None]}
        tensors |= {f"state.{k}": v[:1] for k, v in self.state.items()}
        if self.classes is not None:
            tensors["classes"] = self.classes[:1]
        meta = {"model": _fingerprint(prior), **info}
        save_tensors(
            path,
            {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()},
            {"ganprior_reconstruction": json.dumps(meta)},
        )
        return Path(path)

    @staticmethod
    def load(paths: Sequence[str | Path], prior: Prior) -> tuple[Reconstruction, Tensor]:
        """Saved reconstructions (``save``) made with ``prior`` -> (the N of them as one, their fitted
        inputs (N, C, H, W)), on the prior's device."""
        parts = []
        for path in paths:
            try:
                meta = tensor_metadata(path, "ganprior_reconstruction")
                tensors = load_file(str(path))
            except (SafetensorError, OSError, json.JSONDecodeError) as exc:
                raise GanpriorError(f"cannot read reconstruction {path}: {exc}") from exc
            if meta is None:
                raise GanpriorError(
                    f"{path} is not a reconstruction (write one with `ganprior restore --task reconstruct`)"
                )
            if meta["model"] != _fingerprint(prior):
                raise GanpriorError(
                    f"{path} was made with model {meta['model']['name']!r}; pass --model {meta['model']['name']}"
                )
            if tensors["latent"].dim() != 2:
                raise GanpriorError(
                    f"{path} holds a multi-code ({meta.get('method')}) reconstruction; editing needs one latent (dgp, invert, rgi, rrgi)"
                )
            size, expected = tensors["latent"].shape[1], prior.generator.latent_dim
            if size != expected:
                raise GanpriorError(
                    f"{path} holds a latent of size {size}, the model's is {expected}: load the model with "
                    "the --latent-space the reconstruction was made in"
                )
            parts.append(tensors)
        device = next(prior.generator.parameters()).device
        state_keys = [k for k in parts[0] if k.startswith("state.")]
        if any(sorted(k for k in p if k.startswith("state.")) != sorted(state_keys) for p in parts):
            raise GanpriorError("these reconstructions were made by different methods; edit them separately")

        def cat(key: str) -> Tensor:
            return torch.cat([p[key] for p in parts]).to(device)

        classes = cat("classes") if "classes" in parts[0] else None
        rec = Reconstruction(
            {k[len("state.") :]: cat(k) for k in state_keys}, cat("latent"), classes, cat("image")
        )
        return rec, cat("observation")

    def select(self, index: Sequence[int]) -> Reconstruction:
        i = list(index)
        classes = None if self.classes is None else self.classes[i]
        return Reconstruction(
            {k: v[i] for k, v in self.state.items()}, self.latent[i], classes, self.image[i]
        )


def _fingerprint(prior: Prior) -> dict:
    """Enough to tell whether a saved reconstruction belongs to ``prior``."""
    g = prior.generator
    return {"name": prior.name, "arch": g.arch_name, "parameters": sum(p.numel() for p in g.parameters())}


def reconstruct_config(
    prior: Prior, steps: int | None = None, seed: int = 0, options: dict[str, object] | None = None
) -> DGPConfig:
    """The DGP settings ``reconstruct`` fits with: the manipulation schedule (``steps``: None, its
    own length) with ``options``, other ``DGPConfig`` fields by name."""
    unknown = {"schedule", "steps", "seed"} & set(options or {})
    if unknown:
        raise GanpriorError(f"reconstruct sets {sorted(unknown)[0]} itself")
    return DGPConfig.for_task(
        "manipulate", prior, **(options or {}), schedule=manipulation_schedule(prior), steps=steps, seed=seed
    )


def reconstruct(
    prior: Prior,
    images: Tensor,
    steps: int | None = None,
    seed: int = 0,
    *,
    options: dict[str, object] | None = None,
    callback: Callback | None = None,
) -> Reconstruction:
    """Fit N images (N, C, H, W) with DGP's manipulation schedule (``manipulation_schedule``; a
    conditional model's class is searched together with the latent); ``options``: other
    ``DGPConfig`` fields by name (e.g. ``init_samples``, ``metric``), strings parsed as
    ``--method-option`` values; ``callback``: the solver's, per step."""
    config = reconstruct_config(prior, steps, seed, options)
    result = solve(prior, images, Operator(), config, callback=callback)
    assert result.generator_state is not None  # the manipulation schedule always tunes G
    return Reconstruction(result.generator_state, result.latent, result.classes, result.image)


RECONSTRUCTION_FLOOR_DB = 15.0
"""Below this PSNR a reconstruction is not the image (face64's collapsed fits were 11.7 dB, brown
checkerboards; its fits of real photos 20–25 dB): edits of it would show another picture."""


def check_reconstruction(images: Tensor, rec: Reconstruction, floor: float = RECONSTRUCTION_FLOOR_DB) -> None:
    """Refuse (``GanpriorError``) a reconstruction of ``images`` (N, C, H, W) whose PSNR is below
    ``floor`` for any image, naming those images (0-based) and their PSNR."""
    scores = psnr(rec.image.to(images), images)
    failed = [f"input {i} at {float(s):.1f} dB" for i, s in enumerate(scores) if s < floor]
    if failed:
        raise GanpriorError(
            f"the reconstruction failed for {', '.join(failed)} (floor {floor:g} dB): the model cannot "
            "represent such images, so edits would show another picture; use a model trained on images "
            "like these, or more --steps"
        )


def jitter(prior: Prior, rec: Reconstruction, sigmas: Sequence[float], count: int, seed: int = 0) -> Tensor:
    """For every image and σ, ``count`` renderings of z + σε: (N, len(sigmas), count, C, H, W)."""
    n = rec.latent.shape[0]
    rng = torch.Generator().manual_seed(seed)
    eps = torch.randn(len(sigmas), count, *rec.latent.shape[1:], generator=rng).to(rec.latent)
    out = []
    for i in range(n):
        one = rec.select([i] * len(sigmas) * count)
        z = one.latent + torch.tensor(sigmas).to(eps).view(-1, 1, 1).mul(eps).flatten(0, 1)
        out.append(render(prior.generator, one.state, z, one.classes).unflatten(0, (len(sigmas), count)))
    return torch.stack(out)


def morph(prior: Prior, pair: Reconstruction, frames: int = 11) -> Tensor:
    """Frames (frames, C, H, W) from image 0 to image 1 of ``pair``: z, class vector and every tuned
    weight interpolated linearly with the same weight t = 0 … 1."""
    if pair.latent.shape[0] != 2:
        raise GanpriorError("morphing needs exactly two reconstructed images")
    t = torch.linspace(0, 1, frames).to(pair.latent)

    def lerp(x: Tensor) -> Tensor:
        return torch.lerp(
            x[0:1].expand(frames, *x.shape[1:]),
            x[1:2].expand(frames, *x.shape[1:]),
            t.view(-1, *[1] * (x.dim() - 1)),
        )

    state = {k: lerp(v) for k, v in pair.state.items()}
    classes = None if pair.classes is None else lerp(pair.classes)
    return render(prior.generator, state, lerp(pair.latent), classes)


def transfer(prior: Prior, rec: Reconstruction, classes: Sequence[int]) -> Tensor:
    """Every image rendered by its tuned generator with each of ``classes``: (N, len(classes), C, H, W)."""
    g = prior.generator
    if g.num_classes == 0:
        raise GanpriorError(f"category transfer needs a class-conditional model; {prior.name} is not")
    bad = [c for c in classes if not 0 <= c < g.num_classes]
    if bad:
        raise GanpriorError(f"class {bad[0]} does not exist; {prior.name} has classes 0…{g.num_classes - 1}")
    n, k = rec.latent.shape[0], len(classes)
    index = [i for i in range(n) for _ in range(k)]
    one = rec.select(index)
    labels = torch.tensor(list(classes) * n, device=rec.latent.device)
    return render(g, one.state, one.latent, g.class_vector(labels, n * k)).unflatten(0, (n, k))
