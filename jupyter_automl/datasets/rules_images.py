"""DESIGN §4 rules for image classification: each row names an image, plus the head columns.

``image`` names a file inside the uploaded zip (see :class:`zipfiles.EntryResolver` for how a
name is found); ``image_url`` an http(s) URL, accepted only when downloads are allowed. An image
is an invalid row when it is missing from the zip, larger than ``max_image_bytes``, has more
than ``max_image_pixels`` pixels (read from its header before any decoding: decompression
bombs), or does not decode (PIL ``verify`` and a full ``load``). Each distinct image is checked
once, several at a time.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from .report import Issue, ValidationReport
from .rows import Rows
from .rules_classification import check_heads, head_names, labels
from .zipfiles import EntryResolver

IMAGE_COLUMN = "image"
URL_COLUMN = "image_url"


@dataclass
class ImageSource:
    """An opened, already checked zip of images."""

    path: Path
    archive: zipfile.ZipFile
    resolver: EntryResolver


def inspect_image(data_or_info: Any, archive: zipfile.ZipFile | None, max_bytes: int, max_pixels: int) -> str | None:
    """Why an image (a zip entry, or bytes) cannot be used, or None when it is fine."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(data_or_info, zipfile.ZipInfo):
        size = data_or_info.file_size
        if size > max_bytes:
            return f"image is {size:,} bytes, more than the limit of {max_bytes:,}"
        data = archive.read(data_or_info)
    else:
        data = data_or_info
        if len(data) > max_bytes:
            return f"image is {len(data):,} bytes, more than the limit of {max_bytes:,}"
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                return (
                    f"image is {width:,} x {height:,} = {width * height:,} pixels, more than the "
                    f"limit of {max_pixels:,} (a decompression bomb?)"
                )
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Image.DecompressionBombError as error:
        return f"image has too many pixels (a decompression bomb?): {error}"
    except UnidentifiedImageError:
        return "not an image: PIL cannot identify the file"
    except Exception as error:  # noqa: BLE001 - any decoder failure makes the row invalid
        return f"image does not decode: {error}"
    return None


def _check_entries(
    source: ImageSource, infos: list[zipfile.ZipInfo], max_bytes: int, max_pixels: int
) -> list[str | None]:
    local = threading.local()
    opened: list[zipfile.ZipFile] = []
    lock = threading.Lock()

    def check(info: zipfile.ZipInfo) -> str | None:
        archive = getattr(local, "archive", None)
        if archive is None:
            archive = local.archive = zipfile.ZipFile(source.path)
            with lock:
                opened.append(archive)
        return inspect_image(info, archive, max_bytes, max_pixels)

    workers = max(1, min(4, os.cpu_count() or 1))
    if len(infos) < 8 or workers == 1:
        return [inspect_image(i, source.archive, max_bytes, max_pixels) for i in infos]
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(check, infos, chunksize=16))
    finally:
        for archive in opened:
            archive.close()


def _url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        return f"image_url must be an http:// or https:// URL, got {url[:80]!r}"
    return None


def check_image_classification(
    rows: Rows, settings: Any, report: ValidationReport, source: ImageSource | None
) -> pd.DataFrame:
    heads = head_names(rows, {IMAGE_COLUMN, URL_COLUMN})
    if not heads and not settings.prediction:
        report.errors.append(
            Issue(
                None,
                None,
                "no label column: besides image (or image_url), the file needs at least one head "
                "column whose cells are class names (for example 'animal')",
            )
        )
    names = [c.strip() for c in rows.cells(IMAGE_COLUMN)]
    urls = [c.strip() for c in rows.cells(URL_COLUMN)]
    images = [""] * len(rows)
    uses_zip = any(names)
    uses_urls = any(u for n, u in zip(names, urls) if not n)
    if uses_zip and source is None:
        report.errors.append(
            Issue(
                None,
                IMAGE_COLUMN,
                "no images zip: the image column names files inside a zip; upload the zip of "
                "images with the CSV (or one zip holding the CSV and the images)",
            )
        )
    if uses_urls and not settings.allow_downloads:
        report.errors.append(
            Issue(
                None,
                URL_COLUMN,
                "image_url names images by URL, but downloads are off (allow_downloads); put the "
                "images in the zip and name them in an 'image' column",
            )
        )
    if uses_urls and settings.allow_downloads:
        report.warnings.append(
            Issue(None, URL_COLUMN, "images named by URL are checked when they are downloaded, not now")
        )

    entries: dict[str, zipfile.ZipInfo] = {}
    for i, (name, url) in enumerate(zip(names, urls)):
        if name:
            if source is None:
                images[i] = name
                continue
            entry = source.resolver.resolve(name)
            if entry is None:
                hint = source.resolver.suggest(name)
                more = f" (did you mean {hint!r}? names are case-sensitive)" if hint else ""
                rows.add(i, IMAGE_COLUMN, f"image {name!r} is not in {source.path.name}{more}")
                continue
            images[i] = entry
            entries[entry] = source.resolver.entries[entry]
        elif url:
            images[i] = url
            if settings.allow_downloads:
                problem = _url_problem(url)
                if problem:
                    rows.add(i, URL_COLUMN, problem)
        else:
            rows.add(i, IMAGE_COLUMN, "no image: neither image nor image_url is filled in")

    if source is not None and entries:
        todo = [entries[name] for name in sorted(entries)]
        problems = dict(
            zip(
                (info.filename for info in todo),
                _check_entries(source, todo, settings.max_image_bytes, settings.max_image_pixels),
            )
        )
        for i, image in enumerate(images):
            problem = problems.get(image) if names[i] else None
            if problem:
                rows.add(i, IMAGE_COLUMN, f"{image!r}: {problem}")

    classes = labels(rows, heads)
    if not settings.prediction:
        check_heads(rows, heads, classes, settings, report)
    good = rows.good()
    table: dict[str, Any] = {
        "row": [rows.numbers[i] for i in good],
        IMAGE_COLUMN: [images[i] for i in good],
    }
    for head in heads:
        cells = classes[head]
        table[head] = [cells[i] for i in good]
    return pd.DataFrame(table, columns=["row", IMAGE_COLUMN, *heads])
