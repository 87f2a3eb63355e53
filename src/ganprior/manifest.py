"""A run's record in its output folder, ``manifest.json``: the settings that decide its results and,
per input, the input's content hash, its status and its output files. Rerunning the same command into
the same folder skips what is done (same settings, same input bytes, every output file present) and
does the rest; other settings into that folder are refused unless ``--overwrite``. An input that
failed (its error is recorded) is tried again by the next run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GanpriorError
from .files import write_whole
from .report import prepare_output_dir
from .sources import sha256_of

MANIFEST = "manifest.json"


@dataclass
class Manifest:
    """``settings``: what decides the results (JSON values); ``entries``: output stem ->
    {input, sha256, status (done | failed), outputs, and error or the command's own fields};
    ``resuming``: whether an earlier run's entries were read."""

    folder: Path
    settings: dict[str, Any]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    resuming: bool = False

    @classmethod
    def open(
        cls, folder: str | Path, settings: dict[str, Any], overwrite: bool, inputs: Sequence[str | Path]
    ) -> Manifest:
        """The output folder of a run with ``settings``, checked and probed before any work
        (``report.prepare_output_dir``; ``inputs``: what the run reads, never replaced): an earlier
        run's manifest there with the same settings is resumed, other settings are refused (unless
        ``overwrite``, which starts afresh), and a new or empty folder starts a new manifest."""
        earlier = cls.read(folder, settings, overwrite) if Path(folder).is_dir() else None
        out = prepare_output_dir(folder, overwrite or earlier is not None, inputs)
        return earlier or cls(out, settings)

    def todo(self, sources: Sequence[str | Path], stems: Sequence[str]) -> list[int]:
        """The indices of ``sources`` (written as ``stems``) not yet done in this folder."""
        return [i for i, p in enumerate(sources) if not (self.resuming and self.done(stems[i], p))]

    @classmethod
    def read(cls, folder: str | Path, settings: dict[str, Any], overwrite: bool) -> Manifest | None:
        """The manifest of an earlier run with these ``settings`` in ``folder`` (to resume), None if
        there is none (or ``overwrite`` starts afresh); other settings raise ``GanpriorError``."""
        path = Path(folder) / MANIFEST
        if not path.is_file() or overwrite:
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            previous, entries = stored["settings"], stored["entries"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GanpriorError(
                f"{path} is damaged ({exc}); pass --overwrite to start this folder again"
            ) from exc
        changed = sorted(k for k in {*previous, *settings} if previous.get(k) != settings.get(k))
        if changed:
            raise GanpriorError(
                f"--out {folder} holds a run with other settings ({', '.join(changed)}): rerun it as it was, "
                "choose another folder, or pass --overwrite"
            )
        return cls(Path(folder), settings, entries, resuming=True)

    def done(self, stem: str, source: str | Path) -> bool:
        """Whether input ``source`` (written as ``stem``) is finished: same bytes, all outputs there."""
        entry = self.entries.get(stem)
        return (
            entry is not None
            and entry.get("status") == "done"
            and entry.get("input") == str(source)
            and all((self.folder / name).is_file() for name in entry.get("outputs", []))
            and entry.get("sha256") == sha256_of(Path(source))
        )

    def record(self, stem: str, source: str | Path, outputs: list[str], **fields: Any) -> None:
        """Mark ``source`` done with its ``outputs`` (file names in the folder) and the command's own
        JSON ``fields``, and save, whole."""
        self._put(stem, source, status="done", outputs=sorted(outputs), **fields)

    def fail(self, stem: str, source: str | Path, error: str) -> None:
        """Mark ``source`` failed with ``error`` (one line) and save, whole; the next run retries it."""
        self._put(stem, source, status="failed", error=error, outputs=[])

    def _put(self, stem: str, source: str | Path, **fields: Any) -> None:
        self.entries[stem] = {"input": str(source), "sha256": sha256_of(Path(source)), **fields}
        self.save()

    def save(self) -> Path:
        text = json.dumps({"settings": self.settings, "entries": self.entries}, indent=2, sort_keys=True)
        return write_whole(self.folder / MANIFEST, text + "\n")
