"""DESIGN §4 rules for text classification: text_data, heads, classes, the token limit."""

from __future__ import annotations

from jupyter_automl.datasets.validation import validate_file
from tests.datasets.files import find_issue, review_rows, write_dicts


def reviews_file(tmp_path, rows, name="reviews.csv"):
    return write_dicts(tmp_path / name, rows)


def test_valid_file_gives_text_heads_and_class_counts(tmp_path, text_settings, encoder_tokenizer):
    rows = review_rows(240)
    result = validate_file(reviews_file(tmp_path, rows), text_settings())
    report = result.report
    assert report.valid, report.summary()
    assert report.heads == {
        "sentiment": {"negative": 80, "neutral": 80, "positive": 80},
        "topic": {"price": 60, "quality": 60, "shipping": 60, "support": 60},
    }
    assert list(result.table.columns) == ["row", "text_data", "sentiment", "topic", "tokens"]
    expected = [len(encoder_tokenizer(r["text_data"])["input_ids"]) for r in rows]
    assert result.table["tokens"].tolist() == expected  # with [CLS] and [SEP]
    assert report.token_stats.tokenizer == "tiny-encoder"


def test_header_without_text_data_is_refused_naming_the_expected_columns(tmp_path, text_settings):
    rows = [{"review": r["text_data"], "sentiment": r["sentiment"]} for r in review_rows(120)]
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(report.errors, None, None, "('review', 'sentiment') names none of the expected", "text_data")


def test_missing_text_data_column_is_a_file_error_naming_it(tmp_path, text_settings):
    rows = [{"review": r["text_data"], "toxicity": r["sentiment"]} for r in review_rows(120)]
    report = validate_file(reviews_file(tmp_path, rows), text_settings(builtin_heads=("toxicity",))).report
    find_issue(report.errors, None, "text_data", "missing required column 'text_data'")


def test_file_without_a_head_column_is_a_file_error(tmp_path, text_settings):
    rows = [{"text_data": r["text_data"]} for r in review_rows(120)]
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(report.errors, None, None, "no label column")


def test_head_with_one_class_is_a_file_error_naming_the_head(tmp_path, text_settings):
    rows = [{"text_data": r["text_data"], "spam": "no"} for r in review_rows(120)]
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(report.errors, None, "spam", "head 'spam' has 1 class ('no')", "2 to 20 classes")


def test_head_with_21_classes_is_a_file_error_naming_the_head(tmp_path, text_settings):
    rows = review_rows(21 * 10)
    for i, row in enumerate(rows):
        row["product"] = f"product-{i % 21:02d}"
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(report.errors, None, "product", "head 'product' has 21 classes", "remove it")


def test_class_with_too_few_examples_is_a_file_error_naming_class_and_count(tmp_path, text_settings):
    rows = review_rows(240)
    neutral = [r for r in rows if r["sentiment"] == "neutral"]
    for row in neutral[9:]:
        row["sentiment"] = "positive"
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(
        report.errors, None, "sentiment",
        "class 'neutral' of head 'sentiment' has 9 examples", "at least 10",
    )
    assert report.heads["sentiment"]["neutral"] == 9


def test_moderation_minimum_of_50_examples_per_class(tmp_path, text_settings):
    rows = review_rows(240)  # 60 per topic, 80 per sentiment
    price = [i for i, r in enumerate(rows) if r["topic"] == "price"]
    rows = [r for i, r in enumerate(rows) if i not in price[:20]]  # 40 price rows left
    report = validate_file(reviews_file(tmp_path, rows), text_settings(min_examples_per_class=50)).report
    find_issue(report.errors, None, "topic", "class 'price' of head 'topic' has 40 examples", "at least 50")
    assert [e.column for e in report.errors] == ["topic"]


def test_builtin_head_column_may_add_examples_of_one_class(tmp_path, text_settings):
    rows = review_rows(240)
    for row in rows:
        row["toxicity"] = "not_toxic"
    result = validate_file(reviews_file(tmp_path, rows), text_settings(builtin_heads=("toxicity",)))
    assert result.report.valid, result.report.summary()
    assert result.report.heads["toxicity"] == {"not_toxic": 240}


def test_builtin_head_alone_counts_as_header_and_head(tmp_path, text_settings):
    rows = [{"TEXT_DATA": r["text_data"], "toxicity": r["sentiment"]} for r in review_rows(150)]
    result = validate_file(reviews_file(tmp_path, rows), text_settings(builtin_heads=("toxicity",)))
    assert result.report.valid and list(result.table.columns)[:3] == ["row", "text_data", "toxicity"]


def test_empty_cell_means_not_labelled_and_a_row_without_any_label_is_invalid(tmp_path, text_settings):
    rows = review_rows(240)
    rows[0]["topic"] = ""  # labelled for sentiment only: valid
    rows[1]["topic"] = rows[1]["sentiment"] = "  "  # labelled for nothing: invalid
    result = validate_file(reviews_file(tmp_path, rows), text_settings())
    report = result.report
    find_issue(report.errors, 3, None, "no label", "'sentiment', 'topic'")
    assert report.invalid_row_numbers == [3]
    first = result.table.iloc[0]
    assert (first["row"], first["topic"], first["sentiment"]) == (2, "", "positive")
    assert sum(report.heads["topic"].values()) == 238


def test_empty_text_is_an_invalid_row(tmp_path, text_settings):
    rows = review_rows(240)
    rows[10]["text_data"] = " "
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(report.errors, 12, "text_data", "empty text")


def test_text_longer_than_the_token_limit_is_an_invalid_row(tmp_path, text_settings, encoder_tokenizer):
    rows = review_rows(240)
    rows[50]["text_data"] = "The delivery was late and the box was damaged. " * 40
    exact = len(encoder_tokenizer(rows[50]["text_data"])["input_ids"])
    assert exact > 512
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(report.errors, 52, "text_data", f"{exact:,} tokens, more than the token limit 512", "tiny-encoder")
    assert report.invalid_row_numbers == [52]


def test_class_names_are_stripped_and_keep_their_case(tmp_path, text_settings):
    rows = review_rows(240)
    for row in rows[:12]:
        row["sentiment"] = f"  {row['sentiment']} "
    for row in rows:
        if row["topic"] == "price":
            row["topic"] = "Price"
    result = validate_file(reviews_file(tmp_path, rows), text_settings())
    assert result.report.heads["topic"]["Price"] == 60
    assert result.report.heads["sentiment"]["positive"] == 80
    assert set(result.table["sentiment"]) == {"positive", "negative", "neutral"}


def test_classes_differing_only_in_case_get_a_warning(tmp_path, text_settings):
    rows = review_rows(240)
    for row in rows[:120]:
        if row["sentiment"] == "positive":
            row["sentiment"] = "Positive"
    report = validate_file(reviews_file(tmp_path, rows), text_settings()).report
    find_issue(report.warnings, None, "sentiment", "'Positive' and 'positive' differ only in case")
