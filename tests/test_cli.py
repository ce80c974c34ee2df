"""`jupyter automl`: arguments in, the Python API called, text or JSON out, honest exit codes."""

from __future__ import annotations

import json
import pytest

from tests.data import cli_runner, write_chat_csv, write_reviews_csv


@pytest.fixture
def cli(tmp_path, tiny_base_models, monkeypatch, capsys):
    """Run the CLI in-process against a fresh store, with the tiny base models configured."""
    return cli_runner(tmp_path, monkeypatch, capsys, {"AutoML": {"base_models": tiny_base_models}})


def test_validate_json_for_a_usable_file_exits_0(cli, tmp_path):
    path = write_chat_csv(tmp_path / "chat.csv")
    code, out, _ = cli("datasets", "validate", str(path), "--type", "llm_chat",
                       "--base-model", "tiny-llm", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["valid"] is True and report["rows"] == 150 and report["valid_rows"] == 150
    assert report["errors"] == []
    assert {"row", "column", "reason"} <= set(report["warnings"][0])  # fewer than 2,000 rows


def test_validate_json_for_an_unusable_file_exits_1_with_file_level_error(cli, tmp_path):
    path = write_chat_csv(tmp_path / "chat.csv", rows=99)
    code, out, _ = cli("datasets", "validate", str(path), "--type", "llm_chat",
                       "--base-model", "tiny-llm", "--json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False
    assert any(e["row"] is None and "100" in e["reason"] for e in report["errors"])


def test_validate_usage_errors_exit_2(cli, tmp_path):
    code, _, err = cli("datasets", "validate", str(tmp_path / "missing.csv"), "--type", "llm_chat",
                       "--base-model", "tiny-llm")
    assert code == 2 and "missing.csv" in err
    with pytest.raises(SystemExit) as exit_info:
        cli("datasets", "validate", "x.csv", "--type", "poetry")
    assert exit_info.value.code == 2
    code, _, err = cli("datasets", "validate", str(write_chat_csv(tmp_path / "c.csv")),
                       "--type", "llm_chat", "--base-model", "nope")
    assert code == 2 and "nope" in err


def test_upload_list_show_snapshot_and_split(cli, tmp_path):
    path = write_reviews_csv(tmp_path / "reviews.csv")
    code, out, _ = cli("datasets", "upload", str(path), "--type", "text_classification",
                       "--base-model", "tiny-encoder", "--name", "reviews", "--json")
    assert code == 0
    dataset = json.loads(out)
    assert dataset["name"] == "reviews" and dataset["valid"] is True

    code, out, _ = cli("datasets", "list")
    assert code == 0 and dataset["id"] in out and "reviews" in out
    code, out, _ = cli("datasets", "show", dataset["id"])
    assert code == 0 and "head 'sentiment'" in out

    code, out, _ = cli("snapshots", "create", dataset["id"], "--test-percent", "25", "--json")
    assert code == 0
    made = json.loads(out)
    assert made["train"]["rows"] + made["test"]["rows"] == made["snapshot"]["rows"] == 240
    assert made["test"]["role"] == "test" and made["test"]["parent_id"] == made["snapshot"]["id"]

    code, out, _ = cli("snapshots", "list", "--json")
    assert {s["id"] for s in json.loads(out)} == {
        made["snapshot"]["id"], made["train"]["id"], made["test"]["id"]
    }
    code, out, _ = cli("snapshots", "show", made["test"]["id"])
    assert code == 0 and "role=test" in out


def test_freezing_an_unusable_dataset_exits_1(cli, tmp_path):
    path = write_reviews_csv(tmp_path / "reviews.csv", rows=50)
    code, out, _ = cli("datasets", "upload", str(path), "--type", "text_classification",
                       "--base-model", "tiny-encoder", "--json")
    assert code == 1
    dataset_id = json.loads(out)["id"]
    code, _, err = cli("snapshots", "create", dataset_id)
    assert code == 1 and "cannot be frozen" in err


def test_base_models_list_filters_by_type(cli):
    code, out, _ = cli("base-models", "list", "--type", "llm_chat", "--json")
    names = {m["name"] for m in json.loads(out)}
    assert code == 0 and "tiny-llm" in names and "tiny-encoder" not in names


def test_bad_training_options_on_the_command_line_exit_2_saying_what_to_write(cli):
    code, _, err = cli("models", "create", "bot", "--snapshot", "s", "--option", "max_epochs")
    assert code == 2 and "--option 'max_epochs': write key=value" in err
    code, _, err = cli("models", "create", "bot", "--snapshot", "s", "--options", "[1, 2]")
    assert code == 2 and "--options must be a JSON object" in err
    code, _, err = cli("train", "no-such-model")
    assert code == 2 and "no model named or with id 'no-such-model'" in err
