"""Training options: defaults by model and base model, and a clear error for every bad value."""

from __future__ import annotations

import pytest

from jupyter_automl.base_models.builtin import ALL_MINILM_L6, EFFICIENTNET_LITE0, SMOLLM2_135M
from jupyter_automl.errors import InvalidInput
from jupyter_automl.training.options import (
    TrainingOptions,
    options_schema,
    parse_options,
    resolve_options,
)

HEADS = ["sentiment", "topic"]


def text(options=None, heads=HEADS):
    return resolve_options(options, model_type="text_classification", base_model=ALL_MINILM_L6, heads=heads)


def llm(options=None):
    return resolve_options(options, model_type="llm_chat", base_model=SMOLLM2_135M)


def test_defaults_follow_the_model_type_and_base_model():
    t = text()
    assert (t.method, t.selection_rule, t.selection_label) == ("full", "balanced_accuracy", "sentiment")
    assert t.max_epochs == ALL_MINILM_L6.default_max_epochs and t.max_tokens is None
    c = llm()
    assert (c.method, c.selection_rule, c.max_tokens) == ("lora", "loss", 2048)
    i = resolve_options(None, model_type="image_classification", base_model=EFFICIENTNET_LITE0, heads=["digit"])
    assert i.method == "last_layer" and i.batch_size == 16


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_epochs": "three"}, "max_epochs"),
        ({"selection_rule": "accuracy"}, "selection_rule"),
        ({"early_stopping": 0}, "early_stopping"),
        ({"max_invalid_row_percent": 0}, "max_invalid_row_percent"),
        ({"max_invalid_row_percent": 101}, "max_invalid_row_percent"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"max_tokens": 4097}, "max_tokens"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"lora_targets": []}, "lora_targets"),
        ({"precision": "fp8"}, "precision"),
        ({"epochs": 3}, "unknown option"),
    ],
)
def test_every_bad_value_is_refused_naming_the_option(options, message):
    with pytest.raises(InvalidInput, match=message):
        parse_options(options)


def test_selection_label_must_be_a_head_of_the_snapshot():
    with pytest.raises(InvalidInput, match=r"'colour' is not a head .*sentiment, topic"):
        text({"selection_label": "colour"})
    assert text({"selection_label": "topic"}).selection_label == "topic"


def test_early_stopping_must_not_exceed_max_epochs():
    with pytest.raises(InvalidInput, match=r"early_stopping: must be between 1 and max_epochs \(3\)"):
        text({"max_epochs": 3, "early_stopping": 4})
    assert text({"max_epochs": 3, "early_stopping": 3}).early_stopping == 3


def test_rules_and_methods_that_do_not_fit_the_model_are_refused():
    with pytest.raises(InvalidInput, match="balanced_accuracy.*not available for llm_chat"):
        llm({"selection_rule": "balanced_accuracy"})
    with pytest.raises(InvalidInput, match="LLMs have no heads"):
        llm({"selection_label": "x"})
    with pytest.raises(InvalidInput, match="trains with last_layer, full, not 'lora'"):
        resolve_options({"method": "lora"}, model_type="image_classification",
                        base_model=EFFICIENTNET_LITE0, heads=["digit"])
    with pytest.raises(InvalidInput, match="is for llm_text, llm_chat, not text_classification"):
        resolve_options(None, model_type="text_classification", base_model=SMOLLM2_135M, heads=HEADS)
    with pytest.raises(InvalidInput, match="no label heads"):
        text(heads=[])


def test_loss_is_a_valid_rule_for_classification_too():
    assert text({"selection_rule": "loss"}).selection_rule == "loss"


def test_options_publish_a_json_schema_with_their_ranges():
    schema = TrainingOptions.model_json_schema()["properties"]
    assert schema["max_invalid_row_percent"]["minimum"] == 1
    assert schema["max_invalid_row_percent"]["maximum"] == 100
    assert schema["max_tokens"]["anyOf"][0]["maximum"] == 4096


def test_the_form_schema_offers_only_the_options_and_choices_that_apply():
    image = options_schema("image_classification", EFFICIENTNET_LITE0, ["digit"])["properties"]
    assert image["method"]["enum"] == ["last_layer", "full"] and image["method"]["default"] == "last_layer"
    assert "augment" in image and not {"lora_r", "max_tokens", "batching"} & set(image)
    chat = options_schema("llm_chat", SMOLLM2_135M)["properties"]
    assert chat["selection_rule"]["enum"] == ["loss"] and chat["max_tokens"]["default"] == 2048
    assert not {"selection_label", "augment"} & set(chat)
    labelled = options_schema("text_classification", ALL_MINILM_L6, HEADS)["properties"]
    assert labelled["selection_label"]["enum"] == HEADS
    unknown = options_schema("text_classification", ALL_MINILM_L6)["properties"]["selection_label"]
    assert "enum" not in unknown and unknown["default"] is None


@pytest.mark.parametrize(
    "model_type, base_model, heads",
    [
        ("text_classification", ALL_MINILM_L6, HEADS),
        ("image_classification", EFFICIENTNET_LITE0, ["digit"]),
        ("llm_chat", SMOLLM2_135M, []),
    ],
)
def test_the_form_schema_defaults_are_the_defaults_a_run_uses(model_type, base_model, heads):
    import jsonschema

    schema = options_schema(model_type, base_model, heads)
    defaults = {name: prop["default"] for name, prop in schema["properties"].items() if "default" in prop}
    jsonschema.validate(defaults, schema)
    resolved = resolve_options(defaults, model_type=model_type, base_model=base_model, heads=heads)
    assert resolved == resolve_options({}, model_type=model_type, base_model=base_model, heads=heads)
