"""The metrics dashboard and the playground widgets on trained tiny versions in a real store."""

from __future__ import annotations

import ipywidgets as w
import pytest
from sklearn.metrics import confusion_matrix
from traitlets.config import Config

from jupyter_automl.widgets import ChatPlayground, MetricsDashboard, TryIt
from tests.serving import register_trained

pytestmark = pytest.mark.timeout(180)


def test_dashboard_tables_plots_and_the_rows_behind_a_confusion_cell(trained):
    automl, register = trained
    register("reviews")
    register("reviews")
    board = MetricsDashboard(automl, "reviews", 1)
    metrics = automl.version_metrics("reviews", 1)
    heads = metrics["test"]["heads"]
    assert set(board.grids) == set(heads) == {"sentiment", "topic"}

    predictions = automl.version_predictions("reviews", 1)
    for head, grid in board.grids.items():
        labels = heads[head]["confusion_matrix"]["labels"]
        matrix = heads[head]["confusion_matrix"]["matrix"]
        labelled = predictions[predictions[head].notna() & (predictions[head] != "")]
        expected = confusion_matrix(labelled[head], labelled[f"{head} predicted"], labels=labels)
        assert expected.tolist() == matrix  # the file behind the grid agrees with sklearn
        for i, actual in enumerate(labels):
            for j, predicted in enumerate(labels):
                assert grid.buttons[(actual, predicted)].description == str(matrix[i][j])

    # Click a cell that holds rows: the rows behind it, and only those, are shown.
    head = "sentiment"
    labels = heads[head]["confusion_matrix"]["labels"]
    matrix = heads[head]["confusion_matrix"]["matrix"]
    i, j = max(((i, j) for i in range(len(labels)) for j in range(len(labels))),
               key=lambda ij: matrix[ij[0]][ij[1]])
    board.grids[head].buttons[(labels[i], labels[j])].click()
    rows = board.selected_rows
    assert len(rows) == matrix[i][j] > 0
    assert set(rows[head]) == {labels[i]} and set(rows[f"{head} predicted"]) == {labels[j]}
    shown = board.rows.outputs[0]["data"]["text/html"]
    assert f"{matrix[i][j]} test rows" in shown and str(rows["row"].iloc[0]) in shown

    text = "".join(c.value for c in board.children if isinstance(c, w.HTML))
    assert "reviews v1" in text and "Chosen:" in text
    images = [c for c in board.children[1].children[1].children[0].children[1].children
              if isinstance(c, w.Image)]
    assert images and all(bytes(i.value).startswith(b"\x89PNG") for i in images)

    # Side by side with version 2: one column per version, the same rows of numbers.
    assert list(board.comparison_table.columns) == ["v1"]
    board.compare.value = 2
    table = board.comparison_table
    assert list(table.columns) == ["v1", "v2"]
    assert table.loc["sentiment/balanced_accuracy", "v1"] == heads["sentiment"]["balanced_accuracy"]
    assert "v2" in board.comparison.value


def test_dashboard_of_an_llm_shows_the_change_against_the_base(trained):
    automl, register = trained
    register("helper", "llm_chat")
    board = MetricsDashboard(automl, "helper")
    comparison = automl.version_metrics("helper", 1)["comparison"]
    shown = board.children[1].children[0].value
    assert "Base model vs fine-tuned" in shown
    for key, values in comparison.items():
        assert key in shown and f"{values['change']:.4f}" in shown
    assert board.grids == {}


def test_dashboard_of_an_untrained_version_is_a_clear_error(make_automl, tmp_path):
    from jupyter_automl.errors import NotFound
    from tests.serving import snapshot_for

    automl = make_automl()
    automl.create_model("later", snapshot_for(automl, "text_classification", tmp_path),
                        base_model="tiny-encoder")
    automl.train("later")
    with pytest.raises(NotFound, match="version 1 of model 'later' is queued"):
        MetricsDashboard(automl, "later", 1)


def test_chat_keeps_the_conversation_and_counts_playground_requests(trained):
    automl, register = trained
    register("helper", "llm_chat")
    chat = ChatPlayground(automl, "helper", system_prompt="Answer briefly.", compare_base=True)
    limit = chat.usage.limit
    assert f"<b>{limit}</b> of {limit} playground requests left" in chat.remaining.value
    chat.max_tokens.value = 8

    chat.prompt.value = "How do I reset my password?"
    chat.send_button.click()
    assert chat.error is None, chat.error
    first = chat.history[-1]["content"]
    assert [t["role"] for t in chat.history] == ["user", "assistant"]
    assert chat.base_answers[0] is not None  # the base model answered beside it
    assert chat.prompt.value == ""
    answer = chat.send("And where is my invoice?")
    assert answer == chat.history[-1]["content"] and len(chat.history) == 4
    assert chat.usage.remaining == limit - 2  # the base model's answers are not counted
    assert f"<b>{limit - 2}</b> of {limit}" in chat.remaining.value
    assert "base model" in chat.conversation.value and "How do I reset" in chat.conversation.value

    # The second request carried the system prompt and the first turn as prompt_history.
    with automl.store.session() as session:
        from sqlalchemy import select

        from jupyter_automl.store import orm

        inputs = [t.input for t in session.scalars(select(orm.Task).order_by(orm.Task.created_at))]
    options = inputs[-1]["options"]
    assert options["system_prompt"] == "Answer briefly."
    assert options["prompt_history"] == [{"role": "user", "content": "How do I reset my password?"},
                                         {"role": "assistant", "content": first}]
    assert options["max_tokens"] == 8

    chat.clear()
    assert chat.history == [] and "No messages yet" in chat.conversation.value


def test_chat_shows_the_limit_message_of_the_core(make_automl, tiny_runs, tmp_path):
    automl = make_automl(config=Config({"ServingRuntime": {"playground_max_requests": 1}}))
    register_trained(automl, "helper", "llm_chat", tiny_runs["llm_chat"], tmp_path / "csv")
    chat = ChatPlayground(automl, "helper")
    chat.max_tokens.value = 4
    assert chat.send("hello") is not None
    assert chat.send("hello again") is None
    assert "deploy" in chat.error and "1" in chat.error
    assert "Traceback" not in chat.message.value and chat.usage.remaining == 0
    chat.send("   ")
    assert chat.error == "type a message first"
    automl.serving.playground_max_requests = 2  # a later answer clears the earlier error
    assert chat.send("one more") is not None and chat.error is None


def test_chat_for_a_deployed_version_uses_the_deployment(trained):
    automl, register = trained
    register("helper", "llm_chat")
    deployment = automl.deploy("helper")
    chat = ChatPlayground(automl, "helper")
    assert "deployed" in chat.remaining.value
    chat.max_tokens.value = 4
    assert chat.send("hello") is not None
    assert automl.get_deployment(deployment.id).requests == 1


def test_try_it_shows_every_class_score_of_every_head(trained):
    automl, register = trained
    register("reviews")
    box = TryIt(automl, "reviews")
    box.text.value = "La livraison était rapide, très content"
    box.button.click()
    assert box.error is None, box.error
    table = box.table
    heads = automl.version_metrics("reviews", 1)["test"]["heads"]
    for head, values in heads.items():
        scores = table[table["head"] == head]
        assert sorted(scores["class"]) == sorted(values["classes"])
        assert scores["score"].sum() == pytest.approx(1.0, abs=1e-5)
        assert list(scores["score"]) == sorted(scores["score"], reverse=True)
    assert "sentiment" in box.scores.value and "topic" in box.scores.value
    box.classify("")
    assert box.error is not None and "text_data" in box.error
    with pytest.raises(Exception, match="is a classifier"):
        ChatPlayground(automl, "reviews")
