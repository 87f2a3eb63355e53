"""A request's settings, read and checked the way the CLI checks its options (the same bounds and
messages: ``commands.common``), and the models the page may load."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from .. import zoo
from ..checkpoint import Prior
from ..errors import GanpriorError

T = TypeVar("T")


class Params:
    """The JSON body of a request: ``choice`` / ``value`` read a field or refuse it in one line."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise GanpriorError("the request body must be a JSON object")
        self.body = body

    def raw(self, key: str, default: Any = None) -> Any:
        value = self.body.get(key)
        return default if value is None or value == "" else value

    def choice(self, key: str, choices: Sequence[str], default: str | None = None) -> str:
        """A field that must be one of ``choices``."""
        value = self.raw(key, default)
        if value not in choices:
            raise GanpriorError(f"{key} must be one of {', '.join(choices)}, not {value!r}")
        return value

    def value(self, key: str, parse: Callable[[str], T], default: T) -> T:
        """A field parsed by a CLI option type (``commands.common.integer`` ...); ``default`` if absent."""
        value = self.raw(key)
        if value is None:
            return default
        try:
            return parse(str(value))
        except argparse.ArgumentTypeError as exc:
            raise GanpriorError(f"{key}: {exc}") from exc


@dataclass
class Models:
    """The models the page offers: the zoo's and, if ``ganprior ui --model`` named a file, that one
    (by its path); loaded on ``device``. No other file is loaded on a page's request."""

    device: torch.device
    default: str = zoo.DEFAULT_MODEL
    _cards: dict[str, dict[str, Any]] = field(default_factory=dict)

    def cards(self) -> list[dict[str, Any]]:
        """The card of every offered model, the default first."""
        if not self._cards:
            self._cards = {c["name"]: c for c in zoo.model_cards()}
            if self.default not in self._cards:  # a checkpoint file: its card is inside it
                prior = zoo.load(self.default, "cpu")
                self._cards = {self.default: {**prior.card, "name": self.default}} | self._cards
        first = self._cards[self.default]
        return [first, *(c for name, c in self._cards.items() if name != self.default)]

    def load(self, name: str) -> Prior:
        """A fresh copy of an offered model (one per job: jobs never share a module's state)."""
        if name not in {c["name"] for c in self.cards()}:
            raise GanpriorError(f"unknown model {name!r}; `ganprior models` lists them")
        return zoo.load(name, self.device)
