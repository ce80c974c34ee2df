"""Realistic upload files for the validation tests, written from code so each test shows its data."""

from __future__ import annotations

import csv
import io
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

QUESTIONS = [
    "How do I reset my password?",
    "Can I change my delivery address after ordering?",
    "Where do I find the invoice for order {n}?",
    "Do you ship to Norway, and how long does it take?",
    "Wie lange dauert die Lieferung nach Wien?",
    "¿Puedo devolver un producto usado una vez?",
    "配送にはどのくらい時間がかかりますか？",
    "Is the Lofoten jacket warm enough for -20 °C? 🥶",
]
ANSWERS = [
    "Open Settings, choose Security and press Reset password.",
    "Yes, until the order ships: open the order and edit the address.",
    "Invoices are under Account, Orders; order {n} has a PDF link.",
    "Yes, we ship to Norway in 3 to 5 working days.",
    "Die Lieferung nach Wien dauert zwei bis vier Werktage.",
    "Sí, dentro de 30 días, si el producto está limpio y completo.",
    "通常は3〜5営業日でお届けします。",
    "It is rated to -25 °C, so yes 👍 Layer a fleece under it on windy days.",
]
SYSTEMS = [
    "You are a concise support agent for Nordlys Outdoor.",
    "Answer politely, in the customer's language, in at most three sentences.",
]


def write_csv(
    path: Path,
    header: Sequence[str] | None,
    rows: Iterable[Sequence[object]],
    *,
    line_end: str = "\n",
    bom: bool = False,
    delimiter: str = ",",
) -> Path:
    """Write a CSV exactly as given (csv module quoting), UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end, delimiter=delimiter)
    if header is not None:
        writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def chat_rows(n: int, *, seed: int = 0, history: bool = True) -> list[dict[str, str]]:
    """llm_chat rows: system prompt, a two-turn history with custom role names, prompt, completion."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = rng.randrange(len(QUESTIONS))
        j = rng.randrange(len(QUESTIONS))
        turns = [
            {"role": "customer", "content": QUESTIONS[j].format(n=1000 + i)},
            {"role": "agent", "content": ANSWERS[j].format(n=1000 + i)},
        ]
        rows.append(
            {
                "system_prompt": SYSTEMS[i % len(SYSTEMS)],
                "prompt_history": json.dumps(turns, ensure_ascii=False) if history else "",
                "roles": json.dumps({"user": "customer", "model": "agent"}) if history else "",
                "prompt": QUESTIONS[k].format(n=2000 + i),
                "completion": ANSWERS[k].format(n=2000 + i),
            }
        )
    return rows


def write_dicts(path: Path, rows: list[dict[str, str]], columns: Sequence[str] | None = None, **kw) -> Path:
    columns = list(columns or rows[0].keys())
    return write_csv(path, columns, [[r.get(c, "") for c in columns] for r in rows], **kw)


REVIEWS = [
    ("The parcel arrived two days early and well packed", "positive", "shipping"),
    ("Delivery took three weeks and the box was crushed", "negative", "shipping"),
    ("It came on the day they promised", "neutral", "shipping"),
    ("Great value for the money, cheaper than the shop", "positive", "price"),
    ("Far too expensive for what you get", "negative", "price"),
    ("The price is about what I expected", "neutral", "price"),
    ("Solid build, the stitching is excellent", "positive", "quality"),
    ("It broke after one week of normal use", "negative", "quality"),
    ("Die Qualität ist durchschnittlich, nichts Besonderes", "neutral", "quality"),
    ("Support answered in minutes and fixed my problem 🙌", "positive", "support"),
    ("Nobody replied to my three emails", "negative", "support"),
    ("Support asked for my order number and a photo", "neutral", "support"),
]


def review_rows(n: int) -> list[dict[str, str]]:
    """text_classification rows with heads `sentiment` (3 classes) and `topic` (4 classes)."""
    rows = []
    for i in range(n):
        text, sentiment, topic = REVIEWS[i % len(REVIEWS)]
        rows.append({"text_data": f"{text} (order {1000 + i})", "sentiment": sentiment, "topic": topic})
    return rows


# -- images -------------------------------------------------------------------------------------


def png_bytes(width: int = 8, height: int = 8, color=(200, 30, 30), noise: bool = False) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (width, height), color)
    if noise:
        image = Image.frombytes("RGB", (width, height), random.Random(0).randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 8, height: int = 8) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but holds almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


ANIMALS = ["cat", "dog", "fox"]
COLORS = {"cat": (200, 120, 40), "dog": (90, 60, 30), "fox": (230, 90, 10)}


def image_rows(n: int, folder: str = "images") -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        animal = ANIMALS[i % len(ANIMALS)]
        rows.append({"image": f"{folder}/{animal}_{i:04d}.png", "animal": animal})
    return rows


def write_images_zip(path: Path, rows: list[dict[str, str]], extra: dict[str, bytes] | None = None) -> Path:
    """A zip with one small PNG per row (named by the row's image) plus ``extra`` entries."""
    with zipfile.ZipFile(path, "w") as archive:
        for row in rows:
            archive.writestr(row["image"], png_bytes(color=COLORS.get(row.get("animal", ""), (0, 0, 0))))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def find_issue(issues, row, column, *fragments):
    """The one issue at (row, column) whose reason holds every fragment; fails with the list."""
    hits = [
        i
        for i in issues
        if i.row == row and i.column == column and all(f in i.reason for f in fragments)
    ]
    assert len(hits) == 1, f"no single issue at row={row} column={column} with {fragments}: {[str(i) for i in issues][:20]}"
    return hits[0]
