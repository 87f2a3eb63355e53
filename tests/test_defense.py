"""Attacks stay in their budget and fool a classifier; reconstruction removes a perturbation."""

from __future__ import annotations

import torch
from torch import nn

from conftest import tiny_generator
from ganprior.checkpoint import Prior
from ganprior.defense import fgsm, invert_defense, pgd


def two_class_problem():
    """Images of two tiny generators' halves of latent space, and a linear classifier trained on them."""
    torch.manual_seed(0)
    g = tiny_generator()
    z = torch.randn(64, 8)
    labels = (z[:, 0] > 0).long()
    with torch.no_grad():
        x = g(z)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
    opt = torch.optim.Adam(classifier.parameters(), 1e-2)
    for _ in range(200):
        loss = nn.functional.cross_entropy(classifier(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return g, x, labels, classifier.requires_grad_(False)


def accuracy(classifier, x, labels) -> float:
    return float((classifier(x).argmax(1) == labels).float().mean())


def test_attacks_respect_the_budget_and_fool_the_classifier():
    _, x, labels, classifier = two_class_problem()
    clean = accuracy(classifier, x, labels)
    one = fgsm(classifier, x, labels, eps=0.1)
    many = pgd(
        classifier, x, labels, eps=0.1, step=0.02, steps=10, generator=torch.Generator().manual_seed(0)
    )
    for adv in (one, many):
        assert (adv - x).abs().max() <= 0.2 + 1e-6 and adv.abs().max() <= 1
    assert accuracy(classifier, many, labels) < clean - 0.3
    assert accuracy(classifier, many, labels) <= accuracy(classifier, one, labels) + 1e-6


def test_reconstruction_removes_a_perturbation():
    g, x, labels, classifier = two_class_problem()
    adv = pgd(classifier, x[:4], labels[:4], eps=0.05, step=0.01, steps=10)
    restored = invert_defense(150)(Prior("tiny", g), adv, 0)
    assert (restored - x[:4]).square().mean() < (adv - x[:4]).square().mean()
