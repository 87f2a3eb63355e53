"""A run's record in its output folder, ``manifest.json``: the settings that decide its results and,
per input, the input's content hash, its status and its output files. Rerunning the same command into
the same folder skips what is done (same settings, same input bytes, every output file present) and
does the rest; other settings into that folder are refused unless ``--overwrite``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GanpriorError
from .files import write_whole
from .sources import sha256_of

MANIFEST = "manifest.json"


@dataclass
class Manifest:
    """``settings``: what decides the results (JSON values); ``entries``: output stem ->
    {input, sha256, status, outputs}."""

    folder: Path
    settings: dict[str, Any]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

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
        return cls(Path(folder), settings, entries)

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

    def record(self, stem: str, source: str | Path, outputs: list[str]) -> None:
        """Mark ``source`` done with its ``outputs`` (file names in the folder) and save, whole."""
        self.entries[stem] = {
            "input": str(source),
            "sha256": sha256_of(Path(source)),
            "status": "done",
            "outputs": sorted(outputs),
        }
        self.save()

    def save(self) -> Path:
        text = json.dumps({"settings": self.settings, "entries": self.entries}, indent=2, sort_keys=True)
        return write_whole(self.folder / MANIFEST, text + "\n")
