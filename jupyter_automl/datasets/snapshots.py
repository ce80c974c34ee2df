"""Freezing validated rows into an immutable, content-hashed snapshot directory.

A snapshot directory is named by its content hash and never rewritten:

    <root>/<hash>/manifest.json   model type, columns, heads, row count, base model
                  data.jsonl      one valid row per line, in file order (``row`` = spreadsheet row)
                  report.json     the validation report of the upload it came from
                  images/         the images the rows name (image classification)

The hash covers the manifest, the rows and every image's bytes, so the same data gives the
same hash and any change gives a new snapshot. Files are written to a temporary directory,
made read-only, then renamed into place, so a crash never leaves a half-written snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InvalidInput
from ..model_types import ModelType
from .report import ValidationReport
from .zipfiles import extract_images

FORMAT_VERSION = 1
NON_HEAD_COLUMNS = {"row", "tokens", "text_data", "image", "image_url"}


@dataclass(frozen=True)
class FrozenSnapshot:
    content_hash: str
    path: Path
    rows: int
    heads: dict[str, dict[str, int]]
    columns: list[str]


def head_columns(table: pd.DataFrame, model_type: ModelType) -> list[str]:
    if model_type.is_llm:
        return []
    return [c for c in table.columns if c not in NON_HEAD_COLUMNS]


def class_counts(table: pd.DataFrame, heads: list[str]) -> dict[str, dict[str, int]]:
    """Rows per class for every head; empty cells (unlabelled for that head) are not counted."""
    counts: dict[str, dict[str, int]] = {}
    for head in heads:
        labelled = [v for v in table[head].tolist() if isinstance(v, str) and v != ""]
        counts[head] = dict(sorted(Counter(labelled).items()))
    return counts


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return value


def _rows_bytes(table: pd.DataFrame) -> bytes:
    columns = list(table.columns)
    lines = []
    for values in table.itertuples(index=False, name=None):
        record = {c: _jsonable(v) for c, v in zip(columns, values)}
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _make_read_only(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    directory.chmod(0o555)


def freeze(
    table: pd.DataFrame,
    *,
    model_type: ModelType,
    root: Path,
    report: ValidationReport | None = None,
    images_zip: Path | None = None,
    image_dir: Path | None = None,
    base_model: str | None = None,
) -> FrozenSnapshot:
    """Write ``table`` (valid rows only) as a snapshot under ``root`` and return where it lives.

    Image rows take their files from ``images_zip`` (an upload) or ``image_dir`` (the images
    folder of the snapshot being split).
    """
    root.mkdir(parents=True, exist_ok=True)
    heads = head_columns(table, model_type)
    manifest = {
        "format": FORMAT_VERSION,
        "model_type": model_type.value,
        "columns": list(table.columns),
        "heads": class_counts(table, heads),
        "rows": len(table),
        "base_model": base_model,
    }
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        digest = hashlib.sha256()
        manifest_bytes = json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode()
        digest.update(manifest_bytes)
        rows_bytes = _rows_bytes(table)
        digest.update(rows_bytes)
        (tmp / "data.jsonl").write_bytes(rows_bytes)
        if model_type is ModelType.IMAGE_CLASSIFICATION and "image" in table.columns:
            names = sorted(set(table["image"].tolist()))
            if names and images_zip is not None:
                extract_images(images_zip, names, tmp / "images")
            elif names and image_dir is not None:
                for name in names:
                    target = tmp / "images" / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(image_dir / name, target)
            elif names:
                raise ValueError("image rows need the images zip or folder they name")
            if names:
                for name in names:
                    digest.update(name.encode())
                    digest.update((tmp / "images" / name).read_bytes())
        content_hash = digest.hexdigest()
        manifest["content_hash"] = content_hash
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        if report is not None:
            (tmp / "report.json").write_text(json.dumps(report.to_dict(), ensure_ascii=False))
        final = root / content_hash
        if not final.exists():
            _make_read_only(tmp)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.exists():
                    raise
        return FrozenSnapshot(
            content_hash, final, len(table), manifest["heads"], list(table.columns)
        )
    finally:
        if tmp.exists():
            for path in [tmp, *tmp.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            shutil.rmtree(tmp, ignore_errors=True)


def read_rows(snapshot_dir: Path) -> pd.DataFrame:
    """The rows of a snapshot as a DataFrame (strings stay strings, empty cells stay "")."""
    manifest = json.loads((snapshot_dir / "manifest.json").read_text())
    path = snapshot_dir / "data.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return pd.DataFrame.from_records(records, columns=manifest["columns"])


def verify(snapshot_dir: Path) -> bool:
    """Recompute the hash of a snapshot directory and compare it with its name."""
    manifest = json.loads((snapshot_dir / "manifest.json").read_text())
    expected = manifest.pop("content_hash")
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode())
    digest.update((snapshot_dir / "data.jsonl").read_bytes())
    images = snapshot_dir / "images"
    if images.exists():
        names = sorted(str(p.relative_to(images)) for p in images.rglob("*") if p.is_file())
        for name in names:
            digest.update(name.encode())
            digest.update((images / name).read_bytes())
    return digest.hexdigest() == expected == snapshot_dir.name


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Stage a validated table between upload and snapshot: a JSON line of columns, then rows."""
    with path.open("wb") as f:
        f.write(json.dumps(list(table.columns)).encode() + b"\n")
        f.write(_rows_bytes(table))


def read_table(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8") as f:
        columns = json.loads(f.readline())
        records = [json.loads(line) for line in f if line.strip()]
    return pd.DataFrame.from_records(records, columns=columns)


def check_test_snapshot(
    train_type: str,
    train_heads: Mapping[str, Iterable[str]],
    test_type: str,
    test_heads: Mapping[str, Iterable[str]],
) -> None:
    """A test snapshot must hold the same type of data, and no class a head never trains on."""
    if test_type != train_type:
        raise InvalidInput(f"the test snapshot is {test_type} data; the model is {train_type}")
    for head, classes in test_heads.items():
        if head not in train_heads:
            continue
        known = set(train_heads[head])
        unknown = sorted(set(classes) - known)
        if unknown:
            raise InvalidInput(
                f"test snapshot: head {head!r} has class(es) {', '.join(map(repr, unknown))} that "
                f"the training snapshot never shows (its classes: {', '.join(sorted(known))})"
            )
