"""Several heads in one logits vector: layout, targets, loss, probabilities, built-in heads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from jupyter_automl.base_models.entry import BaseModelEntry
from jupyter_automl.errors import InvalidInput
from jupyter_automl.training.heads import (
    HeadLayout,
    HeadSpec,
    build_layout,
    builtin_heads_of,
    encode_targets,
    head_probabilities,
    multi_head_loss,
    prediction_table,
    predictions_for,
)

BUILTIN = [
    HeadSpec("toxic", ["no", "yes"], 0, "sigmoid"),
    HeadSpec("insult", ["no", "yes"], 1, "sigmoid"),
]


def moderation_entry(heads):
    return BaseModelEntry.from_dict(
        {"name": "mod", "model_types": ["text_classification"], "source": "local",
         "location": "/mod", "builtin_heads": heads}
    )


def test_user_heads_are_laid_out_one_after_another():
    layout = build_layout({"sentiment": ["neg", "pos"], "topic": ["a", "b", "c"]})
    assert layout.names == ["sentiment", "topic"]
    assert [(h.offset, h.width, h.kind, h.builtin) for h in layout] == [
        (0, 2, "softmax", False), (2, 3, "softmax", False)
    ]
    assert layout.width == 5
    assert layout.get("topic").classes == ["a", "b", "c"]
    assert layout.output_labels() == [
        "sentiment: neg", "sentiment: pos", "topic: a", "topic: b", "topic: c"
    ]
    with pytest.raises(KeyError):
        layout.get("missing")


def test_builtin_heads_come_first_keep_offsets_and_are_reused_by_name():
    layout = build_layout({"sentiment": ["neg", "pos"], "toxic": ["no", "yes"]}, BUILTIN)
    assert layout.names == ["toxic", "insult", "sentiment"]
    assert [(h.offset, h.width, h.builtin) for h in layout] == [(0, 1, True), (1, 1, True), (2, 2, False)]
    assert layout.width == 4
    assert layout.output_labels() == ["toxic: yes", "insult: yes", "sentiment: neg", "sentiment: pos"]
    # data for an existing built-in head may show only some of its classes
    assert build_layout({"toxic": ["yes"]}, BUILTIN).width == 2


def test_data_for_a_builtin_head_must_use_its_classes():
    with pytest.raises(InvalidInput, match="'toxic' is a built-in head.*'maybe'"):
        build_layout({"toxic": ["maybe", "no"]}, BUILTIN)


def test_layouts_round_trip_through_json_and_reject_holes_and_overlaps():
    layout = build_layout({"sentiment": ["neg", "pos"]}, BUILTIN)
    again = HeadLayout.from_json(layout.to_json())
    assert again == layout
    assert HeadLayout.from_json(layout.to_json()["heads"]) == layout
    with pytest.raises(InvalidInput, match="overlaps"):
        HeadLayout([HeadSpec("a", ["x", "y"], 0), HeadSpec("b", ["x", "y"], 1)])
    with pytest.raises(InvalidInput, match="unused"):
        HeadLayout([HeadSpec("a", ["x", "y"], 1)])
    with pytest.raises(InvalidInput, match="two classes"):
        HeadSpec("a", ["x", "y", "z"], 0, "sigmoid")


def test_targets_are_class_indices_with_minus_one_for_empty_cells_and_missing_columns():
    layout = build_layout({"sentiment": ["neg", "pos"], "topic": ["a", "b", "c"]}, BUILTIN)
    table = pd.DataFrame(
        {
            "row": [2, 3, 4, 5],
            "text_data": ["w", "x", "y", "z"],
            "sentiment": ["pos", "", None, "neg"],
            "topic": ["c", "a", float("nan"), " "],
            "toxic": ["yes", "no", "", "yes"],
        }
    )
    targets = encode_targets(layout, table)
    assert targets.dtype == np.int64
    # columns: toxic, insult (no column: never labelled), sentiment, topic
    assert targets.tolist() == [[1, -1, 1, 2], [0, -1, -1, 0], [-1, -1, -1, -1], [1, -1, 0, -1]]


def test_a_cell_that_is_not_a_class_names_its_row_and_column():
    layout = build_layout({"sentiment": ["neg", "pos"]})
    table = pd.DataFrame({"row": [2, 7], "text_data": ["a", "b"], "sentiment": ["pos", "meh"]})
    with pytest.raises(InvalidInput, match="row 7, column 'sentiment'.*'meh'"):
        encode_targets(layout, table)


def test_loss_sums_cross_entropy_and_bce_over_labelled_pairs_only():
    layout = build_layout({"topic": ["a", "b", "c"]}, BUILTIN)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, layout.width, generator=generator, requires_grad=True)
    targets = torch.tensor([[1, -1, 2], [0, 1, -1], [-1, -1, -1], [-1, 0, 0]])
    loss, count = multi_head_loss(layout, logits, targets)
    assert count == 6
    z = logits.detach()
    expected = (
        -math.log(torch.sigmoid(z[0, 0]).item())  # toxic yes
        - math.log(1 - torch.sigmoid(z[1, 0]).item())  # toxic no
        - math.log(torch.sigmoid(z[1, 1]).item())  # insult yes
        - math.log(1 - torch.sigmoid(z[3, 1]).item())  # insult no
        - torch.log_softmax(z[0, 2:], 0)[2].item()  # topic c
        - torch.log_softmax(z[3, 2:], 0)[0].item()  # topic a
    )
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    # an unlabelled row, and an unlabelled head of a row, get no gradient at all
    assert torch.all(logits.grad[2] == 0)
    assert torch.all(logits.grad[0, 1] == 0)
    assert torch.all(logits.grad[1, 2:] == 0)
    assert torch.all(logits.grad[0, 2:] != 0)


def test_loss_of_a_batch_without_labels_is_a_zero_that_still_backpropagates():
    layout = build_layout({"topic": ["a", "b", "c"]})
    logits = torch.randn(2, 3, requires_grad=True)
    loss, count = multi_head_loss(layout, logits, np.full((2, 1), -1))
    assert count == 0 and loss.item() == 0.0
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_probabilities_per_head_sum_to_one_and_sigmoid_heads_give_no_yes():
    layout = build_layout({"topic": ["a", "b", "c"]}, BUILTIN)
    logits = np.array([[0.0, 2.0, 1.0, 2.0, 3.0], [-1.0, 0.5, 0.0, 0.0, 0.0]], dtype=np.float32)
    probs = head_probabilities(layout, torch.from_numpy(logits))
    assert set(probs) == {"toxic", "insult", "topic"}
    assert probs["toxic"].shape == (2, 2) and probs["topic"].shape == (2, 3)
    for value in probs.values():
        np.testing.assert_allclose(value.sum(axis=1), 1.0, rtol=1e-6)
    assert probs["toxic"][0].tolist() == pytest.approx([0.5, 0.5])
    assert probs["insult"][0, 1] == pytest.approx(1 / (1 + math.exp(-2.0)))
    np.testing.assert_allclose(probs["topic"][1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(head_probabilities(layout, logits)["topic"], probs["topic"])


def test_predictions_list_every_class_of_every_head_best_first():
    layout = build_layout({"topic": ["a", "b", "c"]}, BUILTIN)
    logits = torch.tensor([[-3.0, 2.0, 0.0, 1.0, 3.0]])
    (row,) = predictions_for(layout, head_probabilities(layout, logits))
    assert list(row) == ["toxic", "insult", "topic"]
    assert [p["class"] for p in row["topic"]] == ["c", "b", "a"]
    assert [p["class"] for p in row["toxic"]] == ["no", "yes"]
    assert [p["class"] for p in row["insult"]] == ["yes", "no"]
    for head in row.values():
        scores = [p["score"] for p in head]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0)
        assert all(isinstance(s, float) for s in scores)
    (top,) = predictions_for(layout, head_probabilities(layout, logits), top_k=1)
    assert [p["class"] for p in top["topic"]] == ["c"]


def test_the_prediction_table_has_truth_argmax_and_its_score_per_head():
    layout = build_layout({"topic": ["a", "b", "c"]}, BUILTIN)
    logits = torch.tensor([[-3.0, 2.0, 0.0, 1.0, 3.0], [1.0, -1.0, 2.0, 2.0, 0.0]])
    probs = head_probabilities(layout, logits)
    table = pd.DataFrame({"row": [7, 9], "topic": ["c", ""], "toxic": ["no", "yes"]})
    predictions = prediction_table(
        layout, probs, encode_targets(layout, table), rows=[7, 9], inputs=["first", "second"]
    )
    assert list(predictions.columns) == [
        "row", "input",
        "toxic", "toxic predicted", "toxic score",
        "insult", "insult predicted", "insult score",
        "topic", "topic predicted", "topic score",
    ]
    assert predictions["row"].tolist() == [7, 9] and predictions["input"].tolist() == ["first", "second"]
    assert predictions["toxic"].tolist() == ["no", "yes"]
    assert predictions["insult"].isna().all()  # no column for it: unlabelled everywhere
    assert predictions["topic"].iloc[0] == "c" and pd.isna(predictions["topic"].iloc[1])
    assert predictions["toxic predicted"].tolist() == ["no", "yes"]
    assert predictions["insult predicted"].tolist() == ["yes", "no"]
    assert predictions["topic predicted"].tolist() == ["c", "a"]  # a tie goes to the first class
    assert predictions["topic score"].tolist() == pytest.approx(probs["topic"].max(axis=1).tolist())
    assert predictions["insult score"].iloc[0] == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_a_head_named_like_a_prediction_column_is_refused():
    layout = build_layout({"input": ["a", "b"]})
    with pytest.raises(InvalidInput, match=r"clash.*\['input'\]"):
        prediction_table(layout, {"input": np.zeros((0, 2))}, np.zeros((0, 1), np.int64), rows=[], inputs=[])


def test_builtin_heads_of_a_multi_label_checkpoint_are_sigmoid_heads():
    entry = moderation_entry({"toxic": ["no", "yes"], "insult": ["no", "yes"]})
    config = {"problem_type": "multi_label_classification", "id2label": {"0": "toxic", "1": "insult"}}
    heads = builtin_heads_of(config, entry)
    assert [(h.name, h.classes, h.offset, h.kind, h.builtin) for h in heads] == [
        ("toxic", ["no", "yes"], 0, "sigmoid", True),
        ("insult", ["no", "yes"], 1, "sigmoid", True),
    ]


def test_builtin_heads_of_a_single_label_checkpoint_is_one_softmax_head():
    entry = moderation_entry({"nsfw": ["safe", "nsfw", "borderline"]})
    config = {"problem_type": "single_label_classification",
              "id2label": {0: "safe", 1: "borderline", 2: "nsfw"}}
    (head,) = builtin_heads_of(config, entry)
    assert (head.name, head.classes, head.offset, head.kind) == (
        "nsfw", ["safe", "borderline", "nsfw"], 0, "softmax"
    )


def test_builtin_heads_that_do_not_match_the_checkpoint_are_refused():
    multi = {"problem_type": "multi_label_classification", "id2label": {0: "toxic", 1: "insult"}}
    with pytest.raises(InvalidInput, match="do not match"):
        builtin_heads_of(multi, moderation_entry({"toxic": ["no", "yes"]}))
    with pytest.raises(InvalidInput, match="two classes"):
        builtin_heads_of(multi, moderation_entry({"toxic": ["no", "yes"], "insult": ["a", "b", "c"]}))
    single = {"id2label": {0: "safe", 1: "nsfw"}}
    with pytest.raises(InvalidInput, match="one built-in head"):
        builtin_heads_of(single, moderation_entry({"a": ["safe", "nsfw"], "b": ["safe", "nsfw"]}))
    with pytest.raises(InvalidInput, match="declares classes"):
        builtin_heads_of(single, moderation_entry({"nsfw": ["ok", "nsfw"]}))


def test_a_base_model_without_builtin_heads_has_none():
    entry = BaseModelEntry.from_dict(
        {"name": "enc", "model_types": ["text_classification"], "source": "local", "location": "/e"}
    )
    assert builtin_heads_of({"id2label": {0: "LABEL_0", 1: "LABEL_1"}}, entry) == []


def test_a_checkpoint_trained_here_keeps_its_saved_layout():
    layout = build_layout({"sentiment": ["neg", "pos"]}, BUILTIN)
    entry = moderation_entry({"toxic": ["no", "yes"], "insult": ["no", "yes"]})
    config = {"automl_heads": layout.to_json(), "problem_type": "multi_label_classification",
              "id2label": dict(enumerate(layout.output_labels()))}
    heads = builtin_heads_of(config, entry)
    assert [h.name for h in heads] == ["toxic", "insult", "sentiment"]
    assert all(h.builtin for h in heads)
    assert build_layout({"sentiment": ["neg", "pos"], "topic": ["a", "b"]}, heads).width == 6
