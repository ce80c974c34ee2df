"""LLM fine-tuning end to end on the tiny Llama: artifacts, metrics, predictor, rules."""

from __future__ import annotations

import json

import pytest
import torch

from jupyter_automl.errors import Conflict, DataValidationError
from jupyter_automl.training import StopSignal, evaluate, load_predictor, train
from jupyter_automl.training.callbacks import Callback
from jupyter_automl.training.devices import choose_placement
from jupyter_automl.training.llm import LLMTask
from jupyter_automl.training.llm_data import collate_packed, collate_padded
from jupyter_automl.training.options import resolve_options

from .conftest import llm_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = {"max_epochs": 2, "learning_rate": 5e-3, "batch_size": 8}


def test_chat_lora_run_writes_a_complete_version_that_beats_its_base(tiny_llm, chat_snapshot, tmp_path):
    result = train(chat_snapshot, tiny_llm, FAST, out_dir=tmp_path / "v1")
    v = result.version_dir
    assert not (tmp_path / "v1.partial").exists() and not (v / "checkpoints").exists()
    for name in ("metrics.json", "options.json", "version.json", "model/config.json",
                 "model/model.safetensors", "model/adapter/adapter_config.json", "plots/loss.png"):
        assert (v / name).is_file(), name
    metrics = json.loads((v / "metrics.json").read_text())
    assert metrics["comparison"]["loss"]["tuned"] < metrics["comparison"]["loss"]["base"]
    assert metrics["comparison"]["loss"]["change"] < 0 and metrics["comparison"]["loss"]["change_percent"] < 0
    assert metrics["test"]["token_accuracy"] > metrics["base"]["token_accuracy"]
    assert [e["epoch"] for e in metrics["history"]] == [1.0, 2.0]
    assert metrics["selection"]["rule"] == "loss" and "lowest validation loss" in metrics["selection"]["why"]
    assert metrics["data"]["rows"] == {"train": 108, "validation": 12, "test": 30}
    assert json.loads((v / "options.json").read_text())["method"] == "lora"

    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(v / "model")
    assert plain.config.vocab_size == len(load_predictor(v).tokenizer)


def test_the_merged_model_scores_what_the_run_reported(tiny_llm, chat_snapshot, tmp_path):
    result = train(chat_snapshot, tiny_llm, FAST, out_dir=tmp_path / "v")
    again = evaluate(result.version_dir, chat_snapshot)
    assert again["rows"] == 150 and again["loss"] < result.metrics["base"]["loss"]
    base = evaluate(tiny_llm, chat_snapshot)
    assert base["loss"] > again["loss"]


def test_predictor_generates_completions_with_token_counts(tiny_llm, chat_snapshot, tmp_path):
    result = train(chat_snapshot, tiny_llm, {**FAST, "method": "full", "learning_rate": 3e-3}, out_dir=tmp_path / "v")
    predictor = load_predictor(result.version_dir)
    answers = predictor.generate(
        ["What is 3 plus one?",
         {"prompt": "What is 1 plus one?", "system_prompt": "Answer briefly.",
          "prompt_history": '[{"role": "customer", "content": "hello"}]', "roles": '{"user": "customer", "model": "agent"}'}],
        {"max_tokens": 6},
    )
    assert len(answers) == 2
    for answer in answers:
        assert 1 <= answer["completion_tokens"] <= 6 and answer["prompt_tokens"] > 5
        assert answer["finish_reason"] in ("stop", "length") and isinstance(answer["completion"], str)
    assert answers[1]["prompt_tokens"] > answers[0]["prompt_tokens"]


def test_text_llm_full_fine_tuning(tiny_llm, text_snapshot, tmp_path):
    result = train(text_snapshot, tiny_llm, {**FAST, "method": "full", "learning_rate": 3e-3}, out_dir=tmp_path / "v")
    assert result.metrics["test"]["loss"] < result.metrics["base"]["loss"]
    assert not (result.version_dir / "model" / "adapter").exists()
    assert json.loads((result.version_dir / "version.json").read_text())["predictor"]["chat"] is False


def test_too_many_rows_over_max_tokens_fail_the_run_listing_them(tiny_llm, tmp_path):
    from jupyter_automl.datasets.snapshots import freeze
    from jupyter_automl.model_types import ModelType

    table = llm_rows(100)
    table.loc[:9, "completion"] = "a long answer " * 40  # 10 of 100 rows
    snapshot = freeze(table, model_type=ModelType.LLM_CHAT, root=tmp_path / "s").path
    with pytest.raises(DataValidationError, match=r"row 2: \d+ tokens, more than max_tokens \(64\)") as failure:
        train(snapshot, tiny_llm, {**FAST, "max_tokens": 64}, out_dir=tmp_path / "v", test=10)
    assert failure.value.details["limit"] == 5 and len(failure.value.details["invalid_rows"]) >= 8
    assert not (tmp_path / "v").exists()
    ok = train(snapshot, tiny_llm, {**FAST, "max_tokens": 64, "max_invalid_row_percent": 20, "max_epochs": 1},
               out_dir=tmp_path / "v2", test=10)
    assert len(ok.invalid_rows) >= 8 and ok.metrics["data"]["invalid_rows"] == ok.invalid_rows


def test_a_run_with_every_row_too_long_is_refused_with_the_rows_even_at_100_percent(
    tiny_llm, chat_snapshot, tmp_path
):
    options = {**FAST, "max_tokens": 8, "max_invalid_row_percent": 100}
    with pytest.raises(DataValidationError, match=r"no training rows are left .* row \d+: \d+ tokens"):
        train(chat_snapshot, tiny_llm, options, out_dir=tmp_path / "v", test=10)
    assert not (tmp_path / "v").exists()


def test_seeded_runs_repeat_exactly_on_cpu(tiny_llm, chat_snapshot, tmp_path):
    a = train(chat_snapshot, tiny_llm, {**FAST, "max_epochs": 1}, out_dir=tmp_path / "a")
    b = train(chat_snapshot, tiny_llm, {**FAST, "max_epochs": 1}, out_dir=tmp_path / "b")
    assert a.metrics["test"] == b.metrics["test"] and a.history == b.history
    c = train(chat_snapshot, tiny_llm, {**FAST, "max_epochs": 1, "seed": 7}, out_dir=tmp_path / "c")
    assert c.metrics["test"] != a.metrics["test"]


def test_a_version_directory_is_never_overwritten(tiny_llm, chat_snapshot, tmp_path):
    (tmp_path / "v").mkdir()
    with pytest.raises(Conflict, match="never overwritten"):
        train(chat_snapshot, tiny_llm, FAST, out_dir=tmp_path / "v")


def test_a_stopped_run_resumes_to_the_same_model(tiny_llm, chat_snapshot, tmp_path):
    whole = train(chat_snapshot, tiny_llm, FAST, out_dir=tmp_path / "whole")
    stop = StopSignal()

    class StopAtThree(Callback):
        def on_step_end(self, state):
            if state.step == 3:
                stop.request()
                raise KeyboardInterrupt  # the kernel dies mid-run

    with pytest.raises(KeyboardInterrupt):
        train(chat_snapshot, tiny_llm, {**FAST, "eval_steps": 2}, out_dir=tmp_path / "v", callbacks=[StopAtThree()])
    assert (tmp_path / "v.partial" / "checkpoints" / "last.pt").exists() and not (tmp_path / "v").exists()
    resumed = train(chat_snapshot, tiny_llm, {**FAST, "eval_steps": 2}, out_dir=tmp_path / "v", resume=True)
    assert resumed.history[0]["step"] == 2 and resumed.history[-1]["step"] == whole.history[-1]["step"]
    assert resumed.metrics["test"]["loss"] == pytest.approx(
        train(chat_snapshot, tiny_llm, {**FAST, "eval_steps": 2}, out_dir=tmp_path / "ref").metrics["test"]["loss"], rel=1e-5)


def test_packed_and_padded_batches_give_the_same_loss(tiny_llm, chat_snapshot):
    from jupyter_automl.training.run import SnapshotData

    data = SnapshotData.load(chat_snapshot)
    options = resolve_options({"method": "full"}, model_type="llm_chat", base_model=tiny_llm)
    task = LLMTask(options, choose_placement("fp32"), entry=tiny_llm, train_rows=data.rows,
                   validation_rows=data.rows[:0], test_rows=data.rows[:0], chat=True)
    task.prepare()
    task.model.eval()
    examples = task.examples["train"][:6]
    with torch.no_grad():
        packed = task.loss_sum({k: v for k, v in collate_packed(examples).items()})
        padded = task.loss_sum(collate_padded(examples, task.tokenizer.pad_token_id))
    assert float(packed) == pytest.approx(float(padded), rel=1e-5)


def test_packed_batching_trains_end_to_end_with_no_padding(tiny_llm, chat_snapshot, tmp_path):
    result = train(chat_snapshot, tiny_llm, {**FAST, "batching": "packed", "max_batch_tokens": 512},
                   out_dir=tmp_path / "v")
    assert result.metrics["data"]["padding_waste"] == 0.0
    assert result.metrics["test"]["loss"] < result.metrics["base"]["loss"]


def test_bad_requests_and_paths_get_clear_errors(tiny_llm, chat_snapshot, tmp_path):
    from jupyter_automl.errors import InvalidInput, NotFound

    with pytest.raises(NotFound, match="not a snapshot directory"):
        train(tmp_path, tiny_llm, FAST, out_dir=tmp_path / "x")
    with pytest.raises(NotFound, match="not a trained model version"):
        load_predictor(tmp_path)
    result = train(chat_snapshot, tiny_llm, {**FAST, "max_steps": 1}, out_dir=tmp_path / "v")
    predictor = load_predictor(result.version_dir)
    for options, message in [
        ({"max_tokens": 0}, "max_tokens must be an integer from 1 to 4096"),
        ({"temperature": -1}, "temperature must be a number from 0 to 5"),
        ({"top_p": 0}, r"top_p must be a number in \(0, 1\]"),
        ({"beams": 2}, "unknown generation option"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            predictor.generate(["hi"], options)
    with pytest.raises(InvalidInput, match="non-empty 'prompt'"):
        predictor.generate([{"prompt": "  "}])
    with pytest.raises(InvalidInput, match="prompt_history"):
        predictor.generate([{"prompt": "hi", "prompt_history": "[{"}])
    with pytest.raises(InvalidInput, match=r"request 1: .*unknown role 'bot'"):
        predictor.generate(["hi", {"prompt": "hi", "prompt_history": [{"role": "bot", "content": "x"}]}])
    ok = predictor.generate([{"prompt": "hi", "prompt_history": [{"role": "customer", "content": "x"}],
                              "roles": {"user": "customer", "model": "agent"}}], {"max_tokens": 2})
    assert ok[0]["completion_tokens"] >= 1
