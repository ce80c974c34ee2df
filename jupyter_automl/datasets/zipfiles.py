"""Zip uploads, safely: refuse unsafe entries, cap sizes, extract only named entries, never outside.

An entry with ``..`` in its path, an absolute path (``/x``, ``\\x``, ``C:x``) or a symbolic link
makes the whole zip refused, and so does a total uncompressed size above
:data:`MAX_TOTAL_UNCOMPRESSED`. Reading an entry never returns more than the size its header
declares (``zipfile`` enforces it, and checks the CRC), so header checks bound the work.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import InvalidInput, NotFound

MAX_TOTAL_UNCOMPRESSED = 16 * 1024**3
MAX_ENTRIES = 1_000_000
_DRIVE = re.compile(r"^[A-Za-z]:")
# Entries that archivers add and nobody means as data.
_JUNK = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$|Thumbs\.db$)")


class UnsafeZip(Exception):
    """A zip that is refused as a whole; ``entry`` names the entry at fault, when one is."""

    def __init__(self, reason: str, entry: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.entry = entry


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry must not be accepted, or None."""
    name = info.filename
    if "\x00" in name:
        return "its name contains a NUL byte"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "it has an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "its path goes up a folder ('..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a symbolic link"
    return None


def is_junk(name: str) -> bool:
    return bool(_JUNK.search(name))


def open_checked(path: Path, *, max_total: int | None = None) -> zipfile.ZipFile:
    """Open a zip and check every entry; raise :class:`UnsafeZip` when it must be refused.

    ``max_total`` caps the uncompressed size of all entries (default :data:`MAX_TOTAL_UNCOMPRESSED`).
    """
    if max_total is None:
        max_total = MAX_TOTAL_UNCOMPRESSED
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise UnsafeZip(f"{path.name} is not a readable zip file: {error}") from None
    try:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise UnsafeZip(f"the zip has {len(infos):,} entries; at most {MAX_ENTRIES:,} are accepted")
        total = 0
        for info in infos:
            reason = unsafe_reason(info)
            if reason:
                raise UnsafeZip(f"unsafe zip entry {info.filename!r}: {reason}", info.filename)
            total += info.file_size
        if total > max_total:
            raise UnsafeZip(
                f"the zip would unpack to {total:,} bytes; at most {max_total:,} are accepted"
            )
    except BaseException:
        archive.close()
        raise
    return archive


def files(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The file entries of a zip by name (no folders, no archiver junk)."""
    return {
        i.filename: i for i in archive.infolist() if not i.is_dir() and not is_junk(i.filename)
    }


class EntryResolver:
    """Finds the zip entry a CSV cell names.

    Tried in order: the name as written; with ``\\`` as ``/`` and without a leading ``./``;
    relative to the folder the CSV sits in (a zip that holds both); under the one top-level
    folder that holds every entry (a zipped folder).
    """

    def __init__(self, entries: dict[str, zipfile.ZipInfo], csv_folder: str = "") -> None:
        self.entries = entries
        self.prefixes = [""]
        if csv_folder:
            self.prefixes.append(csv_folder.rstrip("/") + "/")
        tops = {n.split("/", 1)[0] for n in entries}
        if len(tops) == 1 and all("/" in n for n in entries):
            self.prefixes.append(next(iter(tops)) + "/")
        self._lower: dict[str, str] | None = None

    def resolve(self, name: str) -> str | None:
        if name in self.entries:
            return name
        clean = posixpath.normpath(name.strip().replace("\\", "/"))
        while clean.startswith("./"):
            clean = clean[2:]
        for prefix in self.prefixes:
            if prefix + clean in self.entries:
                return prefix + clean
        return None

    def suggest(self, name: str) -> str | None:
        """An entry whose name differs only in case, for the error message."""
        if self._lower is None:
            self._lower = {n.lower(): n for n in self.entries}
        clean = name.strip().replace("\\", "/").lower()
        for prefix in self.prefixes:
            hit = self._lower.get(prefix.lower() + clean)
            if hit:
                return hit
        return None


def extract_images(images_zip: Path, names: Iterable[str], dest: Path) -> None:
    """Extract exactly the named entries of ``images_zip`` under ``dest``, safely.

    The zip is checked as a whole first (:func:`open_checked`); every name must be a file
    entry; no file is written outside ``dest``. Raises :class:`InvalidInput` for an unsafe
    zip or name, :class:`NotFound` for a name that is not in the zip.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        archive = open_checked(Path(images_zip))
    except UnsafeZip as error:
        raise InvalidInput(error.reason) from None
    with archive:
        for name in dict.fromkeys(names):
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise NotFound(f"{name!r} is not in {Path(images_zip).name}") from None
            if info.is_dir():
                raise InvalidInput(f"{name!r} is a folder in {Path(images_zip).name}, not a file")
            target = (root / name).resolve()
            if not target.is_relative_to(root) or target == root:
                raise InvalidInput(f"zip entry {name!r} would be written outside {dest}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
