"""Reading pickles (raw, or inside a torch zip / legacy file) without running anything from them.

A ``Policy`` names the globals a file may ask for: ``allowed`` ones resolve to the real object (the
tensor rebuild functions, ``OrderedDict``); ``stubs`` ones resolve to a stand-in given here instead
(a pickled config class -> ``PickledObject``, which only stores its state; NVlabs'
``persistence._reconstruct_persistent_obj`` -> a function returning its ``meta``; a dangerous
helper -> a safe one, as ``PLAIN_PICKLE`` replaces ``torch.storage._load_from_bytes``). Every pickle
is scanned first (``pickletools.genops``) and refused, naming the global, if it asks for anything
else; the unpickler's ``find_class`` enforces the same list. Stub
objects never run ``__setstate__`` or ``__reduce__`` code from the file: BUILD fills their
``__dict__``.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import torch

from ..errors import GanpriorError


class PickledObject:
    """Stand-in for an object of a class that is not imported: ``vars(obj)`` is its pickled state,
    ``obj.pickled_args`` what its constructor was called with (NEWOBJ / REDUCE)."""

    def __init__(self, *args: Any) -> None:
        self.pickled_args = args

    def __repr__(self) -> str:
        return f"PickledObject({vars(self)})"


_STORAGES = ("Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")
_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")

TORCH_TENSORS: frozenset[str] = frozenset(
    [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch.Size",
        "torch.UntypedStorage",
        *(f"torch.{kind}Storage" for kind in _STORAGES),
        *(f"torch.{dtype}" for dtype in _DTYPES),
    ]
)
"""What a torch state dict pickles: tensor / parameter rebuilders, storage types, dtypes."""

NUMPY_ARRAYS: frozenset[str] = frozenset(
    [f"numpy.{core}.multiarray.{name}" for core in ("core", "_core") for name in ("_reconstruct", "scalar")]
    + ["numpy.ndarray", "numpy.dtype"]
)
"""What numpy arrays and scalars pickle as (numpy 1.x names, and 2.x's ``numpy._core``)."""


@dataclass(frozen=True)
class Policy:
    """Globals a pickle may name, as ``"module.name"``: ``allowed`` resolve to the real object,
    ``stubs`` to the stand-in given (a class, function or value)."""

    allowed: frozenset[str] = TORCH_TENSORS
    stubs: Mapping[str, Any] = field(default_factory=dict)

    def with_stubs(self, stubs: Mapping[str, Any]) -> Policy:
        return Policy(self.allowed, {**self.stubs, **stubs})

    def permits(self, name: str) -> bool:
        return name in self.stubs or name in self.allowed


def stub_classes(names: Iterable[str]) -> dict[str, type]:
    """Every name in ``names`` mapped to ``PickledObject`` (data-only stand-ins for pickled classes)."""
    return dict.fromkeys(names, PickledObject)


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the policy (carries its ``name``)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"it asks for the global {name}, which is not allowed")
        self.name = name


_STRINGS = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "SHORT_BINSTRING",
    "BINSTRING",
    "STRING",
}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}


def scan(file: IO[bytes], policy: Policy) -> None:
    """Read one pickle's opcodes from ``file`` (up to its STOP) and raise ``RefusedGlobal`` for the
    first global the policy does not permit (``ValueError`` for a truncated or malformed pickle).
    Nothing is constructed."""
    memo: dict[int, Any] = {}
    recent: list[Any] = []  # the last two values pushed, enough to resolve STACK_GLOBAL
    for op, arg, _ in pickletools.genops(file):
        name = op.name
        if name in {"GLOBAL", "INST"}:
            module, attr = str(arg).split(" ", 1)
            _check(f"{module}.{attr}", policy)
        elif name == "STACK_GLOBAL":
            if len(recent) < 2 or not all(isinstance(v, str) for v in recent[-2:]):
                raise RefusedGlobal("<a global whose name is computed at load time>")
            _check(f"{recent[-2]}.{recent[-1]}", policy)
        elif name.startswith("EXT"):
            raise RefusedGlobal(f"<copyreg extension {arg}>")
        if name in _STRINGS:
            recent = [*recent[-1:], arg]
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif name in _PUTS:
            memo[arg] = recent[-1] if recent else None
        elif name in _GETS:
            recent = [*recent[-1:], memo.get(arg)]
        elif name not in {"FRAME", "PROTO"}:
            recent = [*recent[-1:], None]


def storage_from_bytes(data: bytes) -> torch.TypedStorage | torch.UntypedStorage:
    """Stand-in for ``torch.storage._load_from_bytes``, which a plainly pickled tensor's storage names:
    ``data`` (a legacy torch file) read with ``weights_only=True``, where the stock function runs an
    unrestricted ``torch.load`` on it. Raises ``RefusedGlobal`` naming what ``data`` asks for."""
    try:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        raise RefusedGlobal(f"{found[1] if found else 'an unknown one'} (inside a pickled storage)") from exc
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"a pickled storage holds a {type(storage).__name__}")
    return storage


PLAIN_PICKLE = Policy(
    TORCH_TENSORS | NUMPY_ARRAYS | {"builtins.set"},
    {"torch.storage._load_from_bytes": storage_from_bytes},
)
"""What ``pickle.dump`` of tensors, numpy arrays and containers names (``torch.nn.Module`` state
holds a set): the tensor and numpy rebuilders, storages through ``storage_from_bytes``."""


def _check(name: str, policy: Policy) -> None:
    if not policy.permits(name):
        raise RefusedGlobal(name)


def _unpickler_class(policy: Policy) -> type[pickle.Unpickler]:
    class RestrictedUnpickler(pickle.Unpickler):
        """Scans the pickle ahead of loading it; resolves only the policy's globals."""

        def __init__(self, file: IO[bytes], **kwargs: Any) -> None:
            super().__init__(file, **kwargs)
            self._file = file

        def load(self) -> Any:
            start = self._file.tell()
            scan(self._file, policy)
            self._file.seek(start)
            return super().load()

        def find_class(self, module: str, name: str) -> Any:
            key = f"{module}.{name}"
            if key in policy.stubs:
                return policy.stubs[key]
            if key not in policy.allowed:
                raise RefusedGlobal(key)
            return super().find_class(module, name)

    return RestrictedUnpickler


def pickle_module(policy: Policy) -> ModuleType:
    """A stand-in for the ``pickle`` module (``Unpickler``, ``load``, ``loads``) for ``torch.load``."""
    unpickler = _unpickler_class(policy)
    module = ModuleType("ganprior_restricted_pickle")
    module.Unpickler = unpickler  # type: ignore[attr-defined]
    module.load = lambda file, **kw: unpickler(file, **kw).load()  # type: ignore[attr-defined]
    module.loads = lambda data, **kw: unpickler(io.BytesIO(data), **kw).load()  # type: ignore[attr-defined]
    module.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    return module


def loads(data: bytes, policy: Policy, persistent_load: Callable[[Any], Any] | None = None) -> Any:
    """A raw pickle's object under ``policy`` (raises ``RefusedGlobal`` before running anything)."""
    unpickler = _unpickler_class(policy)(io.BytesIO(data))
    if persistent_load is not None:
        unpickler.persistent_load = persistent_load  # type: ignore[method-assign]
    return unpickler.load()


def load_torch(path: str | Path, policy: Policy) -> Any:
    """The object in a torch file (zip or legacy format) under ``policy``, tensors on the CPU.

    Raises ``GanpriorError`` naming the refused global; nothing from the file has run by then.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=pickle_module(policy))
    except RefusedGlobal as exc:
        raise GanpriorError(f"cannot read {path} safely: {exc} (nothing from the file was run)") from exc


def load_pickle(path: str | Path, policy: Policy) -> Any:
    """The object in a raw pickle file (``pickle.dump``) under ``policy``.

    Raises ``GanpriorError`` with one line: the refused global (nothing from the file has run by
    then), or a truncated or corrupted file.
    """
    try:
        with open(path, "rb") as file:
            return _unpickler_class(policy)(file).load()
    except RefusedGlobal as exc:
        raise GanpriorError(f"cannot read {path} safely: {exc} (nothing from the file was run)") from exc
    except Exception as exc:  # any other failure to parse means a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanpriorError(
            f"cannot read {path} as a pickle ({first}): a truncated or corrupted download? compare its "
            "size and sha256 with the original"
        ) from exc
