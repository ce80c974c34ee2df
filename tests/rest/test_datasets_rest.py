"""Datasets (streamed uploads, validation), snapshots and splits, and base models over REST."""

from __future__ import annotations

import csv
import hashlib

import pytest
from tornado.httpserver import HTTPServer

from tests.data import write_colour_images, write_reviews_csv
from tests.rest.forms import BOUNDARY, form_body

TEXT = {"model_type": "text_classification", "base_model": "tiny-encoder"}


def staged(automl) -> list:
    """What uploads left in the staging folder (nothing, once they are answered)."""
    folder = automl.root / "staging"
    return list(folder.iterdir()) if folder.exists() else []


async def upload(api, path, fields=TEXT, expect=201, **kwargs):
    body, headers = form_body(fields, {"file": (path.name, path)})
    return await api("POST", "datasets", body=body, headers=headers, expect=expect, **kwargs)


# -- uploads ------------------------------------------------------------------------------------


async def test_an_upload_is_stored_byte_for_byte_with_its_report(api, automl, tmp_path):
    path = write_reviews_csv(tmp_path / "reviews.csv")
    answer = await upload(api, path, {**TEXT, "name": "Reviews", "max_invalid_row_percent": "10"})
    dataset = answer.json
    assert (dataset["name"], dataset["filename"], dataset["valid"]) == ("Reviews", "reviews.csv", True)
    assert dataset["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset["rows"] == dataset["report"]["rows"] == 240
    assert set(dataset["report"]["heads"]) == {"sentiment", "topic"}
    assert (await api("GET", f"datasets/{dataset['id']}")).json == dataset
    assert [d["id"] for d in (await api("GET", "datasets")).json["datasets"]] == [dataset["id"]]
    assert (await api("GET", "datasets", params={"model_type": "llm_chat"})).json == {"datasets": []}
    assert staged(automl) == []


async def test_an_upload_larger_than_a_network_chunk_arrives_whole(api, automl, tmp_path):
    path = write_reviews_csv(tmp_path / "many.csv", rows=6000)
    assert path.stat().st_size > 4 * 65536  # tornado hands the body over in 64 KiB chunks
    dataset = (await upload(api, path)).json
    assert dataset["size_bytes"] == path.stat().st_size
    assert dataset["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset["rows"] == 6000
    assert staged(automl) == []


async def test_an_upload_that_breaks_the_rules_is_stored_with_its_located_errors(api, tmp_path):
    path = write_reviews_csv(tmp_path / "short.csv", rows=40, bad_rows=3)
    dataset = (await upload(api, path)).json
    assert dataset["valid"] is False
    errors = dataset["report"]["errors"]
    assert any(e["row"] is None and "rows" in e["reason"] for e in errors)  # too few rows
    assert {e["row"] for e in errors if e["row"] is not None} == {2, 3, 4}
    stored = (await api("GET", f"datasets/{dataset['id']}")).json
    assert stored["report"] == dataset["report"]


async def test_an_image_dataset_is_uploaded_with_its_zip(api, tmp_path):
    records = write_colour_images(tmp_path / "images.zip", 100)
    table = tmp_path / "colours.csv"
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["image", "colour"])
        writer.writeheader()
        writer.writerows({"image": r["image"], "colour": r["colour"]} for r in records)
    body, headers = form_body(
        {"model_type": "image_classification", "base_model": "tiny-vit"},
        {"file": ("colours.csv", table), "images": ("images.zip", tmp_path / "images.zip")},
    )
    dataset = (await api("POST", "datasets", body=body, headers=headers, expect=201)).json
    assert (dataset["valid"], dataset["rows"]) == (True, 100), dataset["report"]["errors"]
    assert dataset["report"]["heads"] == {"colour": {"blue": 50, "red": 50}}


async def test_validate_answers_the_report_and_stores_nothing(api, automl, tmp_path):
    path = write_reviews_csv(tmp_path / "reviews.csv", bad_rows=2)
    body, headers = form_body(TEXT, {"file": ("reviews.csv", path)})
    report = (await api("POST", "datasets/validate", body=body, headers=headers)).json
    assert (report["file"], report["valid"], report["invalid_rows"]) == ("reviews.csv", True, 2)
    assert (await api("GET", "datasets")).json == {"datasets": []}
    assert not (automl.root / "uploads").exists()
    assert staged(automl) == []


def _without_closing_boundary(body: bytes) -> bytes:
    return body[: body.rindex(f"--{BOUNDARY}--".encode())]


@pytest.mark.parametrize(
    "fields, files, change, code, message",
    [
        (TEXT, "file", lambda b, h: (b, {"Content-Type": "text/csv"}), 400, "multipart/form-data"),
        (TEXT, "file", lambda b, h: (b, {"Content-Type": "multipart/form-data"}), 400, "boundary"),
        (TEXT, "file", lambda b, h: (_without_closing_boundary(b), h), 400, "closing boundary"),
        (TEXT, None, None, 400, "no 'file'"),
        ({"base_model": "tiny-encoder"}, "file", None, 400, "no 'model_type'"),
        ({**TEXT, "model_type": "poetry"}, "file", None, 400, "unknown model type 'poetry'"),
        ({**TEXT, "colour": "red"}, "file", None, 400, "unknown form field(s) colour"),
        ({**TEXT, "max_tokens": "many"}, "file", None, 400, "'max_tokens' must be a whole number"),
        ({**TEXT, "max_invalid_row_percent": "0"}, "file", None, 400, "max_invalid_row_percent"),
        ({**TEXT, "base_model": "tiny-llm"}, "file", None, 400, "not text_classification"),
        ({**TEXT, "base_model": "nope"}, "file", None, 404, "no base model named 'nope'"),
    ],
)
async def test_bad_uploads_are_refused_with_a_message(
    api, automl, tmp_path, fields, files, change, code, message
):
    path = write_reviews_csv(tmp_path / "reviews.csv")
    body, headers = form_body(fields, {files: ("reviews.csv", path)} if files else None)
    if change:
        body, headers = change(body, headers)
    answer = await api("POST", "datasets", body=body, headers=headers, expect=code, bad_request=True)
    assert message in answer.message
    assert (await api("GET", "datasets")).json == {"datasets": []}
    assert staged(automl) == []


async def test_a_file_sent_as_a_text_field_is_refused(api):
    body, headers = form_body({**TEXT, "file": "text_data,sentiment\n"})
    answer = await api("POST", "datasets", body=body, headers=headers, expect=400, bad_request=True)
    assert "'file' must be sent as a file" in answer.message


class TestTheUploadLimit:
    LIMIT = 50_000

    @pytest.fixture
    def automl_traits(self):
        return {"max_upload_bytes": self.LIMIT}

    async def test_an_upload_under_the_limit_is_taken(self, api, tmp_path):
        path = write_reviews_csv(tmp_path / "small.csv", rows=200)
        assert path.stat().st_size < self.LIMIT - 1000
        await upload(api, path)

    async def test_a_length_over_the_limit_is_refused_before_the_body(self, api, automl, tmp_path):
        path = write_reviews_csv(tmp_path / "big.csv", rows=2000)
        answer = await upload(api, path, expect=413)
        assert answer.message == (
            "the upload is larger than the upload limit of 50,000 bytes (c.AutoML.max_upload_bytes)"
        )
        assert (await api("GET", "datasets")).json == {"datasets": []}
        assert staged(automl) == []

    async def test_a_stream_without_a_length_is_cut_at_the_limit(
        self, automl, tmp_path, http_server_client, jp_base_url, jp_auth_header
    ):
        from tests.rest.openapi import check

        body, headers = form_body(TEXT, {"file": ("big.csv", write_reviews_csv(tmp_path / "b.csv", rows=2000))})
        sent = []

        async def chunked(write):  # no Content-Length: the body goes out chunked
            for start in range(0, len(body), 8192):
                sent.append(start)
                await write(body[start : start + 8192])

        response = await http_server_client.fetch(
            f"{jp_base_url}automl/api/datasets", method="POST", body_producer=chunked,
            headers={**headers, **jp_auth_header}, raise_error=False,
        )
        check(response, request=False)
        assert response.code == 413 and b"50,000 bytes" in response.body
        assert "Content-Length" not in response.request.headers
        assert not (automl.root / "uploads").exists()
        assert staged(automl) == []


class TestTheServersBodyLimit:
    """The upload limit, not the HTTP server's body limit (c.ServerApp.max_body_size; tornado's
    default is 100 MB), decides how large an upload may be."""

    @pytest.fixture
    def http_server(self, jp_asyncio_loop, http_server_port, jp_web_app):
        """pytest-jupyter's server, with the small body limit a ServerApp can configure."""

        async def start() -> HTTPServer:
            server = HTTPServer(jp_web_app, max_body_size=100_000)
            server.add_socket(http_server_port[0])
            return server

        server = jp_asyncio_loop.run_until_complete(start())
        yield server
        server.stop()
        http_server_port[0].close()

    async def test_an_upload_may_be_larger_than_the_servers_body_limit(self, api, tmp_path):
        path = write_reviews_csv(tmp_path / "many.csv", rows=6000)
        assert path.stat().st_size > 3 * 100_000
        assert (await upload(api, path)).json["size_bytes"] == path.stat().st_size


# -- snapshots ----------------------------------------------------------------------------------


async def test_a_dataset_is_frozen_listed_and_shown(api, automl, tmp_path):
    dataset = automl.upload_dataset(write_reviews_csv(tmp_path / "r.csv"), **TEXT)
    snapshot = (await api("POST", "snapshots", json={"dataset_id": dataset.id}, expect=201)).json
    assert (snapshot["rows"], snapshot["role"]) == (dataset.valid_rows, "train")
    again = (await api("POST", "snapshots", json={"dataset_id": dataset.id, "name": "x"}, expect=201))
    assert again.json["id"] == snapshot["id"]  # the same rows give the same snapshot
    listed = (await api("GET", "snapshots")).json["snapshots"]
    assert [s["id"] for s in listed] == [snapshot["id"]]
    detail = (await api("GET", f"snapshots/{snapshot['id']}")).json
    assert detail["content_hash"] == snapshot["content_hash"]
    assert detail["report"]["rows"] == 240
    assert (await api("GET", "snapshots", params={"model_type": "llm_chat"})).json == {"snapshots": []}
    assert (await api("GET", "snapshots", params={"role": "test"})).json == {"snapshots": []}


@pytest.mark.parametrize(
    "body, message",
    [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ("{}", "dataset_id: required"),
        ('{"dataset_id": 5}', "dataset_id: Input should be a valid string"),
        ('{"dataset_id": "x", "colour": 1}', "colour: unknown field"),
    ],
)
async def test_bad_snapshot_requests_are_400(api, body, message):
    answer = await api("POST", "snapshots", body=body, expect=400, bad_request=True)
    assert message in answer.message


async def test_a_snapshot_role_must_be_train_or_test(api, automl, tmp_path):
    dataset = automl.upload_dataset(write_reviews_csv(tmp_path / "r.csv"), **TEXT)
    answer = await api("POST", "snapshots", json={"dataset_id": dataset.id, "role": "both"},
                       expect=400, bad_request=True)
    assert "'train' or 'test'" in answer.message


async def test_freezing_an_invalid_dataset_is_422_with_the_report(api, automl, tmp_path):
    dataset = automl.upload_dataset(write_reviews_csv(tmp_path / "short.csv", rows=40), **TEXT)
    answer = await api("POST", "snapshots", json={"dataset_id": dataset.id}, expect=422)
    assert "cannot be frozen" in answer.message
    assert answer.json["details"]["valid"] is False


async def test_unknown_ids_are_404_with_a_message(api):
    assert "no dataset" in (await api("GET", f"datasets/{'0' * 32}", expect=404)).message
    assert "no snapshot" in (await api("GET", f"snapshots/{'f' * 32}", expect=404)).message
    answer = await api("POST", "snapshots", json={"dataset_id": "0" * 32}, expect=404)
    assert "no dataset" in answer.message


# -- splits -------------------------------------------------------------------------------------


@pytest.fixture
def reviews_snapshot_id(automl, tmp_path):
    dataset = automl.upload_dataset(write_reviews_csv(tmp_path / "r.csv"), **TEXT)
    return automl.create_snapshot(dataset.id).id


async def test_a_snapshot_splits_into_train_and_test(api, reviews_snapshot_id):
    path = f"snapshots/{reviews_snapshot_id}/split"
    split = (await api("POST", path, json={"test_percent": 25, "seed": 7}, expect=201)).json
    train, test = split["train"], split["test"]
    assert (train["role"], test["role"]) == ("train", "test")
    assert train["rows"] + test["rows"] == 240 and test["rows"] == 60
    assert train["parent_id"] == test["parent_id"] == reviews_snapshot_id
    assert (test["split_percent"], test["seed"]) == (25, 7)
    again = (await api("POST", path, json={"test_percent": 25, "seed": 7}, expect=201)).json
    assert again["test"]["id"] == test["id"]
    by_topic = (await api("POST", path, json={"test_percent": 25, "stratify_by": "topic"}, expect=201))
    assert set(by_topic.json["test"]["heads"]["topic"]) == {"shipping", "price", "quality", "support"}
    detail = (await api("GET", f"snapshots/{test['id']}")).json
    assert detail["report"] == {}


@pytest.mark.parametrize(
    "body, message",
    [
        ({"test_percent": 0}, "between 1 and 90"),
        ({"test_percent": 95}, "between 1 and 90"),
        ({"test_percent": "20"}, "test_percent: Input should be a valid integer"),
        ({"test_percent": 20, "seed": -1}, "seed must be between 0"),
        ({"test_percent": 20, "stratify_by": "colour"}, "'colour' is not a head"),
        ({}, "test_percent: required"),
    ],
)
async def test_bad_splits_are_400(api, reviews_snapshot_id, body, message):
    answer = await api("POST", f"snapshots/{reviews_snapshot_id}/split", json=body, expect=400,
                       bad_request=True)
    assert message in answer.message


async def test_splitting_an_unknown_snapshot_is_404(api):
    answer = await api("POST", f"snapshots/{'0' * 32}/split", json={"test_percent": 20}, expect=404)
    assert "no snapshot" in answer.message


# -- base models --------------------------------------------------------------------------------


async def test_base_models_filter_by_type(api):
    models = (await api("GET", "base-models", params={"model_type": "llm_chat"})).json["base_models"]
    assert models and all("llm_chat" in m["model_types"] for m in models)
    answer = await api("GET", "base-models", params={"model_type": "poetry"}, expect=400)
    assert "unknown model type" in answer.message
