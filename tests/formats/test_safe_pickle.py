"""The restricted unpickler: a hostile pickle is refused before anything in it runs, naming the
global; allowed globals resolve; stubbed classes come back as data without their own code running."""

from __future__ import annotations

import builtins
import os
import pickle
from pathlib import Path

import pytest
import torch

import ganprior
from ganprior.errors import GanpriorError
from ganprior.formats import read_torch_file
from ganprior.formats.safe_pickle import PickledObject, Policy, RefusedGlobal, load_torch, loads, stub_classes

ZOO = Path(__file__).parent.parent / "fixtures" / "ganzoo_pgan_32" / "tinypgan32_s3_i96000.pt"
CALLS: list[str] = []


def record() -> str:
    """An allowed global with a visible side effect: it must not run when the pickle is refused."""
    CALLS.append("ran")
    return "ran"


class Recorded:
    def __reduce__(self):
        return (record, ())


class ShellPayload:
    """Unpickling calls os.system('touch <target>')."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class ExecPayload(ShellPayload):
    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.target)!r}, 'w').close()",))


class WritesOnLoad:
    """A class whose own __setstate__ writes a file: a stub must take its state without calling it."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __setstate__(self, state: dict) -> None:
        Path(state["target"]).write_text("ran")
        self.__dict__.update(state)


WITH_RECORD = Policy(Policy().allowed | {f"{__name__}.record"})


@pytest.mark.parametrize("payload", [ShellPayload, ExecPayload], ids=["os.system", "builtins.exec"])
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_hostile_pickle_is_refused_before_anything_runs(payload, protocol, tmp_path):
    CALLS.clear()
    target = tmp_path / "pwned"
    data = pickle.dumps([Recorded(), payload(target)], protocol=protocol)
    with pytest.raises(RefusedGlobal) as info:
        loads(data, WITH_RECORD)
    assert info.value.name in {"posix.system", "nt.system", "builtins.exec", "__builtin__.exec"}
    assert info.value.name in str(info.value)
    assert not target.exists() and CALLS == []  # the scan ran first: not even the allowed call


def test_allowed_globals_resolve_and_run():
    CALLS.clear()
    assert loads(pickle.dumps([Recorded(), {"a": 1}]), WITH_RECORD) == ["ran", {"a": 1}]
    assert CALLS == ["ran"]


def test_a_stubbed_class_comes_back_as_data_without_its_code_running(tmp_path):
    target = tmp_path / "written"
    data = pickle.dumps({"config": WritesOnLoad(target)}, protocol=2)
    with pytest.raises(RefusedGlobal, match=f"{__name__}.WritesOnLoad"):
        loads(data, Policy())
    loaded = loads(data, Policy().with_stubs(stub_classes([f"{__name__}.WritesOnLoad"])))
    assert isinstance(loaded["config"], PickledObject) and vars(loaded["config"])["target"] == str(target)
    assert not target.exists()


def test_a_hostile_torch_file_is_refused_naming_the_global(tmp_path):
    target = tmp_path / "pwned"
    for legacy in (False, True):
        path = tmp_path / f"evil{int(legacy)}.pt"
        state = {"layer0.conv.weight": torch.zeros(2), "x": ShellPayload(target)}
        torch.save(state, path, _use_new_zipfile_serialization=not legacy)
        with pytest.raises(GanpriorError, match=r"posix\.system|nt\.system") as info:
            ganprior.load(path)
        assert "\n" not in str(info.value)
        with pytest.raises(GanpriorError, match="system"):
            load_torch(path, Policy())
    assert not target.exists()


def test_the_zoo_config_class_needs_its_stub_and_reads_as_data():
    with pytest.raises(GanpriorError, match=r"models\.utils\.config\.BaseConfig"):
        load_torch(ZOO, Policy())
    loaded = read_torch_file(ZOO)
    assert isinstance(loaded["config"], PickledObject)
    assert vars(loaded["config"])["depthOtherScales"] == [16, 12, 8]
    assert isinstance(loaded["avgG"]["formatLayer.module.weight"], torch.Tensor)
