"""Realistic small data files for tests, written from code so every test shows what it uses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

REVIEWS = [
    ("The parcel arrived two days early and well packed", "positive", "shipping"),
    ("Delivery took three weeks and the box was crushed", "negative", "shipping"),
    ("It came on the day they promised", "neutral", "shipping"),
    ("Great value for the money, cheaper than the shop", "positive", "price"),
    ("Far too expensive for what you get", "negative", "price"),
    ("The price is about what I expected", "neutral", "price"),
    ("Solid build, the stitching is excellent", "positive", "quality"),
    ("It broke after one week of normal use", "negative", "quality"),
    ("The material feels ordinary, nothing special", "neutral", "quality"),
    ("Support answered in minutes and fixed my problem", "positive", "support"),
    ("Nobody replied to my three emails", "negative", "support"),
    ("Support asked for my order number and a photo", "neutral", "support"),
]


def write_reviews_csv(path: Path, rows: int = 240, bad_rows: int = 0) -> Path:
    """A text-classification CSV with heads `sentiment` and `topic`; `bad_rows` rows get empty text."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text_data", "sentiment", "topic"])
        for i in range(rows):
            text, sentiment, topic = REVIEWS[i % len(REVIEWS)]
            text = "" if i < bad_rows else f"{text} (order {1000 + i})"
            writer.writerow([text, sentiment, topic])
    return path


CHAT_TOPICS = [
    ("How do I reset my password?", "Open Settings, choose Security and press Reset password."),
    ("Can I change my delivery address?", "Yes, until the order ships: open the order and edit the address."),
    ("Where is my invoice?", "Invoices are under Account, Orders; each order has a PDF link."),
    ("Do you ship to Norway?", "Yes, we ship to Norway in 3 to 5 working days."),
]


def write_chat_csv(path: Path, rows: int = 150) -> Path:
    """An llm_chat CSV with system prompts, a one-turn history and custom role names."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["system_prompt", "prompt_history", "roles", "prompt", "completion"])
        for i in range(rows):
            question, answer = CHAT_TOPICS[i % len(CHAT_TOPICS)]
            history = [
                {"role": "customer", "content": f"Hello, this is order {2000 + i}."},
                {"role": "agent", "content": "Hello! How can I help with that order?"},
            ]
            writer.writerow(
                [
                    "You are a concise support agent for Nordlys Outdoor.",
                    json.dumps(history),
                    json.dumps({"user": "customer", "model": "agent"}),
                    question,
                    answer,
                ]
            )
    return path


def write_colour_images(zip_path: Path, count: int) -> list[dict]:
    """A zip of 32x32 PNGs, red or blue with noise, and their rows (`image`, `colour`)."""
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    records = []
    with zipfile.ZipFile(zip_path, "w") as archive:
        for i in range(count):
            colour = "red" if i % 2 else "blue"
            pixels = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
            pixels[..., 0 if colour == "red" else 2] += 180
            name = f"img/{i}.png"
            with archive.open(name, "w") as f:
                Image.fromarray(pixels).save(f, format="PNG")
            records.append({"row": i + 2, "image": name, "colour": colour})
    return records


def cli_runner(tmp_path: Path, monkeypatch, capsys, config: dict):
    """Run `jupyter automl` in-process on a fresh data folder, with ``config`` as the user's
    jupyter_automl_config.json; returns (exit code, stdout, stderr)."""
    from jupyter_automl.cli import main

    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "jupyter_automl_config.json").write_text(json.dumps(config))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("JUPYTER_AUTOML_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("JUPYTER_AUTOML_STORE_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
