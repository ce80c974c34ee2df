"""DESIGN §4 rules for llm_text and llm_chat datasets, with the tiny ChatML tokenizer."""

from __future__ import annotations

import json

import pytest

from jupyter_automl.datasets.rules_llm import (
    CellError,
    chat_messages,
    llm_text_prompt,
    parse_prompt_history,
    parse_roles,
)
from jupyter_automl.datasets.validation import ValidationSettings, validate_file
from jupyter_automl.model_types import ModelType
from tests.datasets.files import chat_rows, find_issue, write_dicts
from tests.tiny_models import build_chat_tokenizer


def chat_file(tmp_path, n=120, edit=None, name="chat.csv", **kw):
    rows = chat_rows(n, **kw)
    for index, changes in (edit or {}).items():
        rows[index].update(changes)
    return write_dicts(tmp_path / name, rows)


def reference_tokens(tokenizer, row: dict[str, str]) -> int:
    roles = parse_roles(row.get("roles", ""))
    messages = chat_messages(
        row["prompt"],
        row["completion"],
        system_prompt=row.get("system_prompt", ""),
        history=parse_prompt_history(row.get("prompt_history", ""), roles),
        roles=roles,
    )
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False))


def test_chat_token_counts_equal_apply_chat_template(tmp_path, chat_settings, chat_tokenizer):
    rows = chat_rows(150, seed=3)
    rows[7]["system_prompt"] = ""  # SmolLM2's template adds its default system prompt here
    rows[8].update(prompt_history="", roles="")
    result = validate_file(write_dicts(tmp_path / "c.csv", rows), chat_settings())
    assert result.report.valid, result.report.summary()
    expected = [reference_tokens(chat_tokenizer, r) for r in rows]
    assert result.table["tokens"].tolist() == expected


def test_empty_prompt_or_completion_is_an_invalid_row(tmp_path, chat_settings):
    path = chat_file(tmp_path, edit={0: {"prompt": "  "}, 4: {"completion": ""}})
    report = validate_file(path, chat_settings()).report
    find_issue(report.errors, 2, "prompt", "empty prompt")
    find_issue(report.errors, 6, "completion", "empty completion")
    assert report.valid_rows == 118


def test_prompt_history_that_is_not_json_names_the_error_position(tmp_path, chat_settings):
    broken = '[{"role": "customer", "content": "Hi"} {"role": "agent", "content": "Hello"}]'
    path = chat_file(tmp_path, edit={9: {"prompt_history": broken}})
    report = validate_file(path, chat_settings()).report
    find_issue(
        report.errors, 11, "prompt_history",
        "not valid JSON", "Expecting ',' delimiter", "line 1, column 40 (character 39)",
    )


@pytest.mark.parametrize(
    ("history", "fragment"),
    [
        ('{"role": "customer", "content": "Hi"}', "must be a JSON list of"),
        ('["Hi", "Hello"]', "turn 1 of prompt_history is a string, not an object"),
        ('[{"content": "Hi"}]', "turn 1 of prompt_history has no 'role'"),
        ('[{"role": "customer", "content": 42}]', "'content' must be a string, got a number"),
        ('[{"role": "customer", "content": "Hi"}, {"role": "bot", "content": "Yo"}]',
         "turn 2 of prompt_history has unknown role 'bot'"),
    ],
)
def test_prompt_history_of_the_wrong_shape_is_an_invalid_row_saying_what_is_wrong(
    tmp_path, chat_settings, history, fragment
):
    path = chat_file(tmp_path, edit={20: {"prompt_history": history}})
    report = validate_file(path, chat_settings()).report
    find_issue(report.errors, 22, "prompt_history", fragment)
    assert report.invalid_row_numbers == [22]


@pytest.mark.parametrize(
    ("roles", "fragment"),
    [
        ('{"user": "customer", "model": agent}', "roles is not valid JSON"),
        ('["customer", "agent"]', "roles must be a JSON object"),
        ('{"user": "customer"}', "roles has no 'model' name"),
        ('{"user": "customer", "model": "agent", "system": "sys"}', "unknown key 'system'"),
        ('{"user": "same", "model": "same"}', "both 'same'"),
        ('{"user": "", "model": "agent"}', "'user' must be a non-empty string"),
    ],
)
def test_bad_roles_are_an_invalid_row(tmp_path, chat_settings, roles, fragment):
    path = chat_file(tmp_path, edit={30: {"roles": roles}})
    report = validate_file(path, chat_settings()).report
    find_issue(report.errors, 32, "roles", fragment)


def test_history_roles_must_be_the_names_roles_gives(tmp_path, chat_settings):
    history = json.dumps([{"role": "user", "content": "Hi"}, {"role": "agent", "content": "Hello"}])
    path = chat_file(tmp_path, edit={3: {"prompt_history": history}})
    report = validate_file(path, chat_settings()).report
    issue = find_issue(report.errors, 5, "prompt_history", "unknown role 'user'")
    assert "'customer' (user) or 'agent' (model)" in issue.reason


def test_without_roles_the_default_names_and_model_as_assistant_are_accepted(tmp_path, chat_settings):
    default = json.dumps([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
    alias = json.dumps([{"role": "user", "content": "Hi"}, {"role": "model", "content": "Hello"}])
    unknown = json.dumps([{"role": "customer", "content": "Hi"}])
    path = chat_file(
        tmp_path,
        edit={
            0: {"prompt_history": default, "roles": ""},
            1: {"prompt_history": alias, "roles": ""},
            2: {"prompt_history": unknown, "roles": ""},
        },
    )
    result = validate_file(path, chat_settings())
    report = result.report
    find_issue(report.errors, 4, "prompt_history", "unknown role 'customer'", "'user' or 'assistant'")
    assert report.invalid_row_numbers == [4]
    # "model" renders as the assistant: rows 2 and 3 have the same token count shape.
    table = result.table.set_index("row")
    assert json.loads(table.loc[3, "prompt_history"])[1]["role"] == "model"


def test_tokens_above_max_tokens_make_an_invalid_row_with_the_exact_count(tmp_path, chat_settings, chat_tokenizer):
    rows = chat_rows(120)
    rows[40]["completion"] = "This answer is long. " * 60
    exact = reference_tokens(chat_tokenizer, rows[40])
    path = write_dicts(tmp_path / "long.csv", rows)
    report = validate_file(path, chat_settings(max_tokens=exact - 1)).report
    find_issue(report.errors, 42, None, f"{exact:,} tokens, more than max_tokens {exact - 1:,}")
    report = validate_file(path, chat_settings(max_tokens=exact)).report
    assert 42 not in report.invalid_row_numbers


def test_max_tokens_zero_makes_every_row_invalid(tmp_path, chat_settings):
    report = validate_file(chat_file(tmp_path), chat_settings(max_tokens=0)).report
    assert len(report.invalid_row_numbers) == 120 and not report.valid


def test_token_stats_describe_the_valid_rows(tmp_path, chat_settings):
    rows = chat_rows(200)
    rows[0]["prompt"] = ""
    result = validate_file(write_dicts(tmp_path / "c.csv", rows), chat_settings())
    stats = result.report.token_stats
    tokens = sorted(result.table["tokens"].tolist())
    assert stats.tokenizer == "tiny-chat" and result.report.base_model == "tiny-chat"
    assert stats.count == 199 == sum(n for _, _, n in stats.histogram)
    assert (stats.min, stats.max) == (tokens[0], tokens[-1])
    assert stats.mean == pytest.approx(sum(tokens) / len(tokens), abs=0.01)
    assert stats.p50 == tokens[99] and stats.p95 in tokens
    assert 5 <= len(stats.histogram) <= 10
    assert stats.histogram[0][0] == stats.min and stats.histogram[-1][1] == stats.max


def test_llm_text_counts_prompt_with_system_then_completion_then_eos(tmp_path, chat_settings, chat_tokenizer):
    rows = chat_rows(120)
    result = validate_file(write_dicts(tmp_path / "t.csv", rows), chat_settings(model_type=ModelType.LLM_TEXT))
    report = result.report
    assert report.valid, report.summary()
    for row, tokens in zip(rows[:20], result.table["tokens"]):
        prompt = chat_tokenizer(llm_text_prompt(row["prompt"], row["system_prompt"]))["input_ids"]
        completion = chat_tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        assert tokens == len(prompt) + len(completion) + 1
    find_issue(report.warnings, None, "prompt_history", "used only by llm_chat")
    find_issue(report.warnings, None, "roles", "used only by llm_chat")
    assert set(result.table["prompt_history"]) == {""}


def test_other_columns_are_ignored_with_a_warning(tmp_path, chat_settings):
    rows = chat_rows(120)
    for i, row in enumerate(rows):
        row["ticket_id"] = f"T-{i}"
    result = validate_file(write_dicts(tmp_path / "c.csv", rows), chat_settings())
    find_issue(result.report.warnings, None, "ticket_id", "ignored")
    assert "ticket_id" in result.report.ignored_columns
    assert "ticket_id" not in result.table.columns


def test_without_a_tokenizer_token_checks_are_skipped_with_a_warning(tmp_path):
    settings = ValidationSettings(ModelType.LLM_CHAT)
    result = validate_file(chat_file(tmp_path), settings)
    assert result.report.valid and result.report.token_stats is None
    find_issue(result.report.warnings, None, None, "no tokenizer given")


def test_prompt_history_is_normalized_to_content_and_role(tmp_path, chat_settings):
    messy = json.dumps(
        [{"role": " customer ", "content": "Hi", "time": "09:00"}, {"content": "Hello", "role": "agent"}]
    )
    result = validate_file(chat_file(tmp_path, edit={0: {"prompt_history": messy}}), chat_settings())
    table = result.table.set_index("row")
    assert json.loads(table.loc[2, "prompt_history"]) == [
        {"role": "customer", "content": "Hi"},
        {"role": "agent", "content": "Hello"},
    ]
    assert json.loads(table.loc[3, "roles"]) == {"user": "customer", "model": "agent"}


def test_a_conversation_the_chat_template_refuses_is_an_invalid_row(tmp_path, chat_settings):
    strict = (
        "{% for m in messages %}{% if m['role'] == 'user' and loop.index0 > 0 and "
        "messages[loop.index0 - 1]['role'] == 'user' %}{{ raise_exception('roles must alternate') }}"
        "{% endif %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    )
    tokenizer = build_chat_tokenizer(strict)
    history = json.dumps([{"role": "customer", "content": "Hi"}])  # then the prompt: user, user
    path = chat_file(tmp_path, edit={5: {"prompt_history": history}})
    settings = ValidationSettings(ModelType.LLM_CHAT, tokenizer=tokenizer)
    report = validate_file(path, settings).report
    find_issue(report.errors, 7, None, "the chat template refuses this conversation", "roles must alternate")
    assert report.invalid_row_numbers == [7]


def test_llm_chat_with_a_tokenizer_without_chat_template_is_a_file_error(tmp_path):
    tokenizer = build_chat_tokenizer()
    tokenizer.chat_template = None
    settings = ValidationSettings(ModelType.LLM_CHAT, tokenizer=tokenizer, tokenizer_name="plain")
    report = validate_file(chat_file(tmp_path), settings).report
    find_issue(report.errors, None, None, "plain has no chat template")
    assert not report.valid


def test_cell_parsers_raise_cell_errors_for_serving_and_training():
    assert parse_roles("") is None
    assert parse_prompt_history("  ") == []
    with pytest.raises(CellError) as error:
        parse_prompt_history('[{"role": "x", "content": "y"}]')
    assert error.value.column == "prompt_history"
    assert chat_messages("Q", system_prompt="S") == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
    ]
