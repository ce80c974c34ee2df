"""The staging folder: where uploads lie while they arrive (``<data_dir>/staging``).

An upload removes its files once it is answered, but a server that is killed mid-upload, or a
browser closed in the middle of a chunked upload in a notebook, leaves them behind.
:func:`sweep` deletes what nobody has written to for a while.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

SWEEP_SECONDS = 3600  # how often a server sweeps (and once when it starts)


def staging_folder(root: Path) -> Path:
    return root / "staging"


def _last_written(path: Path) -> float:
    """The newest modification time of ``path`` and, for a folder, of everything in it (an
    upload in progress appends to a file, which does not touch its folder's time)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for inner in path.rglob("*"):
            try:
                newest = max(newest, inner.lstat().st_mtime)
            except FileNotFoundError:  # removed meanwhile by the upload it belongs to
                continue
    return newest


def sweep(folder: Path, max_age_seconds: float, now: float | None = None) -> list[Path]:
    """Delete the entries of ``folder`` that nothing has written to for ``max_age_seconds``;
    which were deleted. Entries that vanish meanwhile (their upload ended) are skipped."""
    if max_age_seconds <= 0 or not folder.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - max_age_seconds
    deleted = []
    for entry in folder.iterdir():
        try:
            if _last_written(entry) >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        deleted.append(entry)
    return deleted


async def keep_sweeping(sweep_staging: Callable[[], int], log: logging.Logger | logging.LoggerAdapter) -> None:
    """Call ``sweep_staging`` (the core's, off the event loop) now and every ``SWEEP_SECONDS``,
    until cancelled: what a server runs."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.run_in_executor(None, sweep_staging)
        except Exception:
            log.exception("jupyter_automl: could not sweep the staging folder")
        await asyncio.sleep(SWEEP_SECONDS)
