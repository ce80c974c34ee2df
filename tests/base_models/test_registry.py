"""The registry: built-ins, filtering, defaults, and entries added from plain config dicts."""

from __future__ import annotations

import json

import pytest

from jupyter_automl.base_models import BUILTIN_ENTRIES, BaseModelEntry, BaseModelRegistry
from jupyter_automl.errors import Conflict, InvalidInput, NotFound
from jupyter_automl.model_types import ModelType
from jupyter_automl.schemas import BaseModelInfo


def local_llm(**overrides):
    data = {
        "name": "my-llm",
        "model_types": ["llm_chat"],
        "source": "local",
        "location": "/models/my-llm",
    }
    data.update(overrides)
    return data


def test_builtins_cover_every_model_type_with_an_offline_default():
    registry = BaseModelRegistry()
    for kind in ModelType:
        default = registry.default_for(kind)
        assert kind in default.model_types
        assert default.source == "package" and not default.needs_internet
    assert registry.default_for("llm_text").name == "smollm2-135m-instruct"
    assert registry.default_for(ModelType.LLM_CHAT).name == "smollm2-135m-instruct"
    assert registry.default_for("text_classification").name == "all-minilm-l6-v2"
    assert registry.default_for("image_classification").name == "efficientnet-lite0"


def test_list_filters_by_type_and_puts_the_default_first():
    registry = BaseModelRegistry()
    assert [e.name for e in registry.list()] == [e.name for e in BUILTIN_ENTRIES]
    images = registry.list("image_classification")
    assert [e.name for e in images] == ["efficientnet-lite0", "vit-base-patch16-224"]
    chat = registry.list(ModelType.LLM_CHAT)
    assert chat[0].name == "smollm2-135m-instruct"
    assert all(ModelType.LLM_CHAT in e.model_types for e in chat)
    with pytest.raises(InvalidInput, match="unknown model type"):
        registry.list("speech")


def test_hub_entries_say_they_need_internet_and_one_is_a_moderation_model():
    registry = BaseModelRegistry()
    hub = [e for e in registry.list() if e.source == "hub"]
    assert {e.location for e in hub} >= {
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "microsoft/deberta-v3-base",
        "google/vit-base-patch16-224",
    }
    assert all(e.needs_internet and "internet" in e.display_name for e in hub)
    moderation = [e for e in registry.list() if e.is_moderation]
    assert [e.name for e in moderation] == ["toxic-bert"]
    assert moderation[0].builtin_heads["toxic"] == ["no", "yes"]
    assert not registry.get("all-minilm-l6-v2").is_moderation


def test_get_unknown_name_lists_the_known_ones():
    with pytest.raises(NotFound) as caught:
        BaseModelRegistry().get("gpt-17")
    assert "gpt-17" in caught.value.message
    assert "smollm2-135m-instruct" in caught.value.message
    assert caught.value.http_status == 404


def test_to_dict_is_json_and_fits_the_api_shape():
    for entry in BaseModelRegistry().list():
        data = entry.to_dict()
        json.dumps(data)
        info = BaseModelInfo(**data)
        assert info.name == entry.name
        assert info.model_types == [k.value for k in entry.model_types]
        assert info.is_moderation == entry.is_moderation
        # A dict from to_dict builds the same entry again.
        assert BaseModelEntry.from_dict(data) == entry


def test_classification_entries_have_token_limits_and_images_have_none():
    registry = BaseModelRegistry()
    assert registry.get("all-minilm-l6-v2").token_limit == 512
    image = registry.get("efficientnet-lite0")
    assert image.token_limit is None and image.image_size == 224
    llm = registry.get("smollm2-135m-instruct")
    assert llm.default_max_tokens == 2048 and llm.token_limit is None


def test_add_and_duplicate_names():
    registry = BaseModelRegistry()
    entry = BaseModelEntry.from_dict(local_llm())
    registry.add(entry)
    assert registry.get("my-llm") is entry
    assert "my-llm" in registry
    with pytest.raises(Conflict, match="already exists"):
        registry.add(BaseModelEntry.from_dict(local_llm(display_name="again")))
    with pytest.raises(Conflict):
        BaseModelRegistry.from_config([local_llm(name="smollm2-135m-instruct")])


def test_config_entries_get_sensible_defaults_by_type():
    registry = BaseModelRegistry.from_config(
        [
            local_llm(),
            {
                "name": "my-encoder",
                "model_types": "text_classification",
                "source": "hub",
                "location": "org/encoder",
                "builtin_heads": {"spam": ["ham", "spam"]},
                "token_limit": 256,
            },
            {
                "name": "my-vision",
                "model_types": ["IMAGE_CLASSIFICATION"],
                "source": "local",
                "location": "~/vision",
            },
        ]
    )
    llm = registry.get("my-llm")
    assert llm.display_name == "my-llm"
    assert llm.model_types == (ModelType.LLM_CHAT,)
    assert llm.default_max_tokens == 2048 and llm.token_limit is None
    encoder = registry.get("my-encoder")
    assert encoder.is_moderation and encoder.token_limit == 256
    assert encoder.default_max_tokens is None
    assert "last_layer" in encoder.training_methods
    vision = registry.get("my-vision")
    # No image_size given: the checkpoint's own config says it when the model loads.
    assert vision.token_limit is None and vision.image_size is None
    # Built-ins stay, and stay the defaults.
    assert registry.default_for("llm_chat").name == "smollm2-135m-instruct"
    assert registry.list("llm_text")[0].name == "smollm2-135m-instruct"
    assert "my-llm" not in [e.name for e in registry.list("llm_text")]


def test_set_default_and_a_registry_without_builtins():
    registry = BaseModelRegistry.from_config([local_llm()], include_builtin=False)
    assert registry.names() == ["my-llm"]
    assert registry.default_for("llm_chat").name == "my-llm"
    with pytest.raises(NotFound, match="no base model is registered for text_classification"):
        registry.default_for("text_classification")
    full = BaseModelRegistry.from_config([local_llm()])
    full.set_default("llm_chat", "my-llm")
    assert full.default_for("llm_chat").name == "my-llm"
    assert full.list("llm_chat")[0].name == "my-llm"
    with pytest.raises(InvalidInput, match="cannot be the default for llm_text"):
        full.set_default("llm_text", "my-llm")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (local_llm(colour="blue"), r"unknown key\(s\) 'colour'"),
        ({"name": "x", "source": "local", "location": "/x"}, r"missing required key\(s\) 'model_types'"),
        (local_llm(model_types=["speech"]), "unknown model type 'speech'"),
        (local_llm(model_types=[]), "model_types must be a non-empty list"),
        (local_llm(model_types=42), "model_types must be a non-empty list"),
        (local_llm(model_types=["llm_chat", "text_classification"]), "cannot also be a classification"),
        (local_llm(source="ftp"), "source must be one of hub, local, package"),
        (local_llm(source="package", location="just_a_package"), "import name and the path inside"),
        (local_llm(location=""), "location must be a non-empty string"),
        (local_llm(location=7), "location must be a string"),
        (local_llm(name="My Model!"), "not a short id"),
        (local_llm(default_max_epochs="3"), "default_max_epochs must be an integer"),
        (local_llm(default_max_epochs=True), "default_max_epochs must be an integer"),
        (local_llm(default_max_epochs=0), "default_max_epochs must be an integer from 1"),
        (local_llm(default_max_tokens=5000), "default_max_tokens must be an integer from 1 to 4096"),
        (local_llm(training_methods=["qlora"]), "unknown training method 'qlora'"),
        (local_llm(training_methods=[]), "training_methods must be a non-empty list"),
        (local_llm(builtin_heads={"toxic": ["yes"]}), "builtin_heads are|at least 2 distinct"),
        (
            {**local_llm(model_types=["text_classification"]), "builtin_heads": {"toxic": ["y"]}},
            "needs a list of at least 2 distinct class names",
        ),
        (
            {**local_llm(model_types=["text_classification"]), "builtin_heads": ["toxic"]},
            "builtin_heads must map each head",
        ),
        (local_llm(builtin_heads={"toxic": ["no", "yes"]}), "classification base models only"),
        (local_llm(framework="keras"), "framework must be one of"),
        (local_llm(description=3), "description must be a string"),
        ("not a dict", "must be a dict of fields"),
    ],
)
def test_bad_config_entries_are_refused_with_a_clear_message(data, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        BaseModelRegistry.from_config([local_llm(name="fine-one"), data])
    assert caught.value.message.startswith("base_models[1]: ")
    assert caught.value.http_status == 400


def test_config_must_be_a_list():
    with pytest.raises(InvalidInput, match="must be a list of dicts"):
        BaseModelRegistry.from_config(local_llm())
    assert len(BaseModelRegistry.from_config(None)) == len(BUILTIN_ENTRIES)
    assert len(BaseModelRegistry.from_config([])) == len(BUILTIN_ENTRIES)


def test_entries_are_frozen_and_hashable():
    entry = BaseModelRegistry().get("toxic-bert")
    with pytest.raises(AttributeError):
        entry.name = "other"  # type: ignore[misc]
    assert hash(entry) == hash(BaseModelEntry.from_dict(entry.to_dict()))
