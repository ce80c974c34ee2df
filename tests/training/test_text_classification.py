"""Text classification on a tiny BERT: methods, unlabelled cells, several heads, moderation bases,
saving for plain transformers, the serving classifier and seeded repeatability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from jupyter_automl.base_models.entry import BaseModelEntry
from jupyter_automl.base_models.loading import load_tokenizer
from jupyter_automl.base_models.tiny import build_tiny_text_encoder
from jupyter_automl.errors import InvalidInput
from jupyter_automl.training.callbacks import CallbackList, StopSignal
from jupyter_automl.training.devices import choose_placement
from jupyter_automl.training.loop import run_loop
from jupyter_automl.training.options import resolve_options
from jupyter_automl.training.text_classification import TextClassificationTask, TextClassifier

SENTIMENT = ["neg", "pos"]
TOPIC = ["delivery", "price", "support"]
FILLER = "the a an my our this that it was is very so".split()
TOPIC_WORDS = {"delivery": "parcel", "price": "price", "support": "agent"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = build_tiny_text_encoder(tmp_path_factory.mktemp("encoder") / "tiny-bert")
    return BaseModelEntry.from_dict(
        {"name": "tiny-bert", "model_types": ["text_classification"], "source": "local",
         "location": str(path)}
    )


@pytest.fixture(scope="module")
def moderation(tmp_path_factory):
    """A multi-label BERT checkpoint with two built-in heads: toxic and insult."""
    root = tmp_path_factory.mktemp("moderation")
    encoder_dir = build_tiny_text_encoder(root / "encoder", seed=1)
    torch.manual_seed(1)
    model = BertForSequenceClassification.from_pretrained(
        encoder_dir, num_labels=2, problem_type="multi_label_classification",
        id2label={0: "toxic", 1: "insult"}, label2id={"toxic": 0, "insult": 1},
    )
    with torch.no_grad():
        model.classifier.weight.normal_(0, 0.5)
        model.classifier.bias.copy_(torch.tensor([-1.0, 0.5]))
    path = root / "tiny-moderation"
    model.save_pretrained(path)
    load_tokenizer(BaseModelEntry.from_dict(
        {"name": "enc", "model_types": ["text_classification"], "source": "local",
         "location": str(encoder_dir)}
    )).save_pretrained(path)
    return BaseModelEntry.from_dict(
        {"name": "tiny-moderation", "model_types": ["text_classification"], "source": "local",
         "location": str(path), "builtin_heads": {"toxic": ["no", "yes"], "insult": ["no", "yes"]}}
    )


def make_rows(n: int, seed: int, *, heads=("sentiment",), start: int = 2) -> pd.DataFrame:
    """Learnable rows: "good"/"bad" decides the sentiment, a topic word the topic."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        positive = bool(rng.integers(0, 2))
        topic = TOPIC[int(rng.integers(0, 3))]
        words = list(rng.choice(FILLER, 4))
        words.insert(int(rng.integers(0, 5)), "good" if positive else "bad")
        words.insert(int(rng.integers(0, 6)), TOPIC_WORDS[topic])
        record = {"row": start + i, "text_data": " ".join(words)}
        if "sentiment" in heads:
            record["sentiment"] = "pos" if positive else "neg"
        if "topic" in heads:
            record["topic"] = topic
        if "toxic" in heads:
            record["toxic"] = "yes" if positive else "no"
        record["tokens"] = 12
        records.append(record)
    return pd.DataFrame(records)


def classes_of(table: pd.DataFrame) -> dict[str, list[str]]:
    heads = [c for c in table.columns if c not in ("row", "text_data", "tokens")]
    return {h: sorted({v for v in table[h] if v}) for h in heads}


def make_task(entry, train, validation=None, test=None, heads=None, **options):
    options.setdefault("batch_size", 16)
    options.setdefault("max_epochs", 1)
    options.setdefault("validation_percent", 0)
    heads = heads or classes_of(train)
    resolved = resolve_options(
        options, model_type="text_classification", base_model=entry, heads=list(heads)
    )
    validation = train if validation is None else validation
    return TextClassificationTask(
        resolved, choose_placement("fp32"), entry=entry, train_rows=train,
        validation_rows=validation, test_rows=validation if test is None else test, heads=heads,
    )


def train(task, tmp_path: Path, name: str = "ck"):
    return run_loop(task, task.options, checkpoint_dir=tmp_path / name, callbacks=CallbackList(),
                    stop=StopSignal())


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(before, after) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_last_layer_trains_the_head_and_pooler_only(encoder, tmp_path):
    task = make_task(encoder, make_rows(48, 0), method="last_layer", max_epochs=2)
    preparation = task.prepare()
    assert preparation.rows == 48 and preparation.invalid_rows == []
    assert preparation.summary["class_counts"]["sentiment"] == {
        "neg": int((make_rows(48, 0)["sentiment"] == "neg").sum()),
        "pos": int((make_rows(48, 0)["sentiment"] == "pos").sum()),
    }
    trainable = {n for n, p in task.model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight",
                         "bert.pooler.dense.bias"}
    before = weights(task.model)
    train(task, tmp_path)
    assert changed(before, weights(task.model)) == trainable
    assert task.describe()["trainable_parameters"] < task.describe()["parameters"] / 10


def test_lora_trains_adapters_and_head_and_saves_a_merged_model(encoder, tmp_path):
    table = make_rows(48, 1)
    task = make_task(encoder, table, method="lora", lora_r=4, learning_rate=5e-3, max_epochs=2)
    task.prepare()
    before = weights(task.model)
    trainable = {n for n, p in task.model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any("lora_B" in n for n in trainable)
    assert any("classifier" in n and "modules_to_save" in n for n in trainable)
    assert all("lora_" in n or "modules_to_save" in n for n in trainable)
    # no adapter on the classifier or the pooler: they are trained in full instead
    assert not any("lora" in n and ("classifier" in n or "pooler" in n) for n in trainable)
    train(task, tmp_path)
    moved = changed(before, weights(task.model))
    assert moved and all("lora_" in n or "modules_to_save" in n for n in moved)
    assert any("lora_B" in n for n in moved) and any("classifier" in n for n in moved)

    texts = table["text_data"].tolist()[:10]
    expected = task.logits("validation")[:10]
    info = task.save(tmp_path / "model")
    assert info["framework"] == "transformers" and info["kind"] == "text_classification"
    assert (tmp_path / "model" / "adapter" / "adapter_config.json").is_file()
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    assert not any("lora" in n for n, _ in plain.named_parameters())
    tokenizer = load_tokenizer(encoder)
    with torch.no_grad():
        logits = plain(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    # the merged encoder differs from the base encoder (the adapters were folded in)
    base = AutoModelForSequenceClassification.from_pretrained(encoder.location, num_labels=2)
    query = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(base.state_dict()[query], plain.state_dict()[query])


def test_full_training_changes_every_weight_and_learns(encoder, tmp_path):
    task = make_task(encoder, make_rows(96, 2), make_rows(32, 3), method="full",
                     learning_rate=5e-3, max_epochs=5, batch_size=8)
    task.prepare()
    assert all(p.requires_grad for p in task.model.parameters())
    before = {n: p.detach().clone() for n, p in task.model.named_parameters()}
    first = task.evaluate("validation")
    outcome = train(task, tmp_path)
    after = dict(task.model.named_parameters())
    assert {n for n in before if not torch.equal(before[n], after[n])} == set(before)
    best = task.evaluate("validation")
    assert best["loss"] < 0.7 * first["loss"]
    assert best["heads"]["sentiment"]["balanced_accuracy"] >= 0.9
    assert outcome.best_metrics["sentiment/balanced_accuracy"] >= 0.9
    assert best["rows"] == 32 and best["heads"]["sentiment"]["labelled"] == 32
    assert set(task.last_probabilities) == {"sentiment"}
    assert task.last_probabilities["sentiment"].shape == (32, 2)


def test_empty_cells_count_for_nothing_in_a_heads_loss_or_metrics(encoder, tmp_path):
    base = make_rows(40, 4, heads=("sentiment", "topic"))
    extra = make_rows(12, 5, heads=("sentiment", "topic"), start=100)
    extra["sentiment"] = ""  # labelled for topic only
    both = pd.concat([base, extra], ignore_index=True)
    heads = {"sentiment": SENTIMENT, "topic": TOPIC}
    task = make_task(encoder, both, validation=both, test=base, heads=heads)
    task.prepare()
    on_both, on_base = task.evaluate("validation"), task.evaluate("test")
    assert on_both["heads"]["sentiment"]["labelled"] == 40
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert on_both["heads"]["sentiment"][key] == on_base["heads"]["sentiment"][key]
    assert on_both["heads"]["topic"]["labelled"] == 52

    # the rows without a sentiment add their topic loss only
    spec = list(range(40, 52))
    batch = task.load_batch(spec)
    assert batch.count == 12 and batch.samples == 12
    assert batch.inputs["targets"][:, 0].eq(-1).all()
    task.model.eval()
    with torch.no_grad():
        loss = task.loss_sum(batch.inputs)
        logits = task.model(input_ids=batch.inputs["input_ids"],
                            attention_mask=batch.inputs["attention_mask"]).logits
    topic_only = torch.nn.functional.cross_entropy(
        logits[:, 2:], batch.inputs["targets"][:, 1], reduction="sum"
    )
    assert loss.item() == pytest.approx(topic_only.item(), rel=1e-5)

    # rows labelled for no head at all change nothing: training gives the same weights
    blank = extra.copy()
    blank["topic"] = ""
    runs = []
    for name, table in (("base", base), ("blank", pd.concat([base, blank], ignore_index=True))):
        run = make_task(encoder, table, validation=base, heads=heads, method="full", max_epochs=2)
        prepared = run.prepare()
        train(run, tmp_path, name)
        runs.append(run.trainable_state())
    assert prepared.summary["unlabelled_rows"] == 12
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_two_heads_with_different_class_sets_save_and_serve(encoder, tmp_path):
    table = make_rows(60, 6, heads=("sentiment", "topic"))
    task = make_task(encoder, table, heads={"sentiment": SENTIMENT, "topic": TOPIC},
                     method="full", learning_rate=2e-3, max_epochs=2)
    task.prepare()
    assert task.layout.width == 5
    train(task, tmp_path)
    metrics = task.evaluate("test")
    assert set(metrics["heads"]) == {"sentiment", "topic"}
    assert metrics["heads"]["topic"]["classes"] == TOPIC
    assert len(metrics["heads"]["topic"]["confusion_matrix"]["matrix"]) == 3
    expected = task.logits("test")
    info = task.save(tmp_path / "model")
    assert [h["name"] for h in info["heads"]["heads"]] == ["sentiment", "topic"]

    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    assert plain.config.num_labels == 5
    assert plain.config.id2label[2] == "topic: delivery"
    assert plain.config.automl_heads == info["heads"]
    classifier = TextClassifier.load(tmp_path / "model", device="cpu")
    texts = table["text_data"].tolist()
    np.testing.assert_allclose(classifier.logits(texts), expected, atol=1e-5)
    tokenizer = load_tokenizer(encoder)
    with torch.no_grad():
        logits = plain(**tokenizer(texts[:8], padding=True, return_tensors="pt")).logits
    np.testing.assert_allclose(logits.numpy(), expected[:8], atol=1e-5)

    answers = classifier.predict(texts[:3] + [{"text_data": "a good parcel"}])
    assert len(answers) == 4
    for answer in answers:
        assert list(answer) == ["sentiment", "topic"]
        assert sorted(p["class"] for p in answer["sentiment"]) == SENTIMENT
        assert sorted(p["class"] for p in answer["topic"]) == TOPIC
        for scored in answer.values():
            scores = [p["score"] for p in scored]
            assert sum(scores) == pytest.approx(1.0, abs=1e-6)
            assert scores == sorted(scores, reverse=True)
    probs = torch.softmax(torch.from_numpy(expected[0, 2:]), 0)
    assert answers[0]["topic"][0]["score"] == pytest.approx(float(probs.max()), abs=1e-6)
    with pytest.raises(InvalidInput, match="text_data"):
        classifier.predict([""])
    evaluated = classifier.evaluate(table)
    assert evaluated["loss"] == pytest.approx(metrics["loss"], rel=1e-5)
    assert evaluated["heads"]["topic"]["accuracy"] == metrics["heads"]["topic"]["accuracy"]


def original_logits(entry, texts):
    model = AutoModelForSequenceClassification.from_pretrained(entry.location).eval()
    tokenizer = load_tokenizer(entry)
    with torch.no_grad():
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()


def test_moderation_base_keeps_builtin_outputs_and_appends_new_heads(moderation, tmp_path):
    table = make_rows(32, 7)
    task = make_task(moderation, table, method="full")
    task.prepare()
    layout = task.layout
    assert [(h.name, h.kind, h.offset, h.builtin) for h in layout] == [
        ("toxic", "sigmoid", 0, True), ("insult", "sigmoid", 1, True),
        ("sentiment", "softmax", 2, False),
    ]
    texts = table["text_data"].tolist()
    np.testing.assert_allclose(task.logits("validation")[:, :2], original_logits(moderation, texts),
                               atol=1e-5)
    # untrained, the model serves the checkpoint's built-in scores beside the new head
    task.save(tmp_path / "untrained")
    answer = TextClassifier.load(tmp_path / "untrained", device="cpu").predict(texts[:1])[0]
    assert list(answer) == ["toxic", "insult", "sentiment"]
    yes = 1 / (1 + np.exp(-original_logits(moderation, texts[:1])[0, 0]))
    assert {p["class"]: p["score"] for p in answer["toxic"]}["yes"] == pytest.approx(yes, abs=1e-5)
    for scored in answer.values():
        assert sum(p["score"] for p in scored) == pytest.approx(1.0, abs=1e-6)
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "untrained")
    assert plain.config.problem_type == "multi_label_classification"
    assert plain.config.id2label == {0: "toxic: yes", 1: "insult: yes", 2: "sentiment: neg",
                                     3: "sentiment: pos"}


def test_moderation_data_for_a_builtin_head_trains_it_and_leaves_the_others(moderation, tmp_path):
    table = make_rows(48, 8, heads=("toxic", "sentiment"))
    task = make_task(moderation, table, method="last_layer", learning_rate=1e-2, max_epochs=2)
    task.prepare()
    assert task.layout.names == ["toxic", "insult", "sentiment"] and task.layout.width == 4
    before = task.logits("validation")
    head = task.model.classifier
    weight, bias = head.weight.detach().clone(), head.bias.detach().clone()
    train(task, tmp_path)
    after = task.logits("validation")
    assert not np.allclose(before[:, 0], after[:, 0], atol=1e-3)  # toxic: trained on its data
    # insult has no data: its row of the classifier is untouched by last_layer training
    assert torch.equal(head.weight[1], weight[1]) and torch.equal(head.bias[1], bias[1])
    assert not torch.equal(head.weight[0], weight[0]) and not torch.equal(head.weight[2:], weight[2:])
    metrics = task.evaluate("validation")
    assert set(metrics["heads"]) == {"toxic", "sentiment"}
    assert metrics["heads"]["toxic"]["classes"] == ["no", "yes"]


def test_moderation_data_with_classes_a_builtin_head_lacks_is_refused(moderation):
    table = make_rows(16, 9, heads=("toxic",))
    table["toxic"] = table["toxic"].map({"yes": "very", "no": "no"})
    task = make_task(moderation, table, method="last_layer")
    with pytest.raises(InvalidInput, match="'toxic' is a built-in head"):
        task.prepare()


def test_seeded_runs_give_identical_weights(encoder, tmp_path):
    table = make_rows(40, 10, heads=("sentiment", "topic"))
    states = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        task = make_task(encoder, table, method="full", seed=seed, max_epochs=1)
        task.prepare()
        assert task.train_batches(0) == task.train_batches(0) != task.train_batches(1)
        train(task, tmp_path, name)
        states.append(task.trainable_state())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_batches_group_similar_lengths_and_cover_every_labelled_row(encoder):
    table = make_rows(64, 11)
    long_words = " ".join(["parcel delivery quality"] * 8)
    table.loc[::2, "text_data"] = table.loc[::2, "text_data"] + " " + long_words
    task = make_task(encoder, table, batch_size=8)
    task.prepare()
    batches = task.train_batches(0)
    assert sorted(i for b in batches for i in b) == list(range(64))
    lengths = [len(ids) for ids in task.ids["train"]]
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert np.mean(spreads) < (max(lengths) - min(lengths)) / 2
    batch = task.load_batch(batches[0])
    assert batch.tokens == sum(lengths[i] for i in batches[0])
    assert batch.inputs["input_ids"].shape == (8, max(lengths[i] for i in batches[0]))
