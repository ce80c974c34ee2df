"""The OpenAPI document: valid, complete (every route, every method), and field for field the
shapes the handlers send and accept. The REST tests check real answers against it."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import typing

import pytest
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate
from pydantic import BaseModel
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.httputil import HTTPHeaders

from jupyter_automl import schemas
from jupyter_automl.datasets.report import Issue, TokenStats, ValidationReport
from jupyter_automl.rest import datasets, deployments, models
from jupyter_automl.rest.routes import routes
from jupyter_automl.serve.app import HealthHandler
from jupyter_automl.serve.handlers import task_routes
from tests.rest.openapi import DOCUMENT, check, document, sample_path

VERBS = ("get", "post", "put", "patch", "delete")

RESPONSE_SHAPES = {
    name: getattr(schemas, name)
    for name in (
        "DatasetInfo", "DatasetDetail", "SnapshotInfo", "SnapshotDetail", "SplitInfo",
        "BaseModelInfo", "ModelInfo", "ModelDetail", "VersionInfo", "JobInfo", "WorkerInfo",
        "ApiKeyInfo", "DeploymentInfo", "NewApiKey", "DeploymentCreated", "PlaygroundInfo",
        "TaskRecord", "TaskPage",
    )
}
REQUEST_SHAPES = {
    "NewSnapshot": datasets.NewSnapshot,
    "SplitRequest": datasets.SplitRequest,
    "NewModel": models.NewModel,
    "ModelChanges": models.ModelChanges,
    "TrainRequest": models.TrainRequest,
    "NewDeployment": deployments.NewDeployment,
}


def test_the_document_is_valid_openapi_3_1():
    validate(document())
    assert document()["openapi"].startswith("3.1")


def _template_regex(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


def test_every_route_and_method_is_documented_and_nothing_else():
    paths = document()["paths"]
    documented = {p: {v for v in ops if v in VERBS} for p, ops in paths.items()}
    served: dict[str, set[str]] = {}
    task_api = [(pattern, handler) for pattern, handler, _ in task_routes(runtime=None)]
    for pattern, handler in [*routes(), *task_api, ("/automl/api/v2/health", HealthHandler)]:
        sample = "/" + sample_path(pattern)
        # As in OpenAPI, a concrete path wins over a templated one.
        matches = [sample] if sample in paths else [p for p in paths if _template_regex(p).match(sample)]
        assert len(matches) == 1, f"{pattern} is documented as {matches}"
        served[matches[0]] = {v for v in VERBS if v in handler.__dict__}
    assert served == documented


def _nullable(annotation) -> bool:
    return type(None) in typing.get_args(annotation) or annotation is type(None)


def _allows_null(schema: dict) -> bool:
    kinds = schema.get("type")
    if kinds == "null" or isinstance(kinds, list) and "null" in kinds:
        return True
    return any(_allows_null(s) for s in schema.get("oneOf", []) + schema.get("anyOf", []))


def _fields(shape) -> dict[str, tuple[bool, bool]]:
    """name -> (required, nullable) of a pydantic model or a dataclass."""
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return {
            name: (field.is_required(), _nullable(field.annotation))
            for name, field in shape.model_fields.items()
        }
    hints = typing.get_type_hints(shape)
    return {
        f.name: (True, _nullable(hints[f.name])) for f in dataclasses.fields(shape)
    }


def _assert_matches(component: str, fields: dict[str, tuple[bool, bool]], *, all_required: bool):
    schema = document()["components"]["schemas"][component]
    properties = schema["properties"]
    assert set(properties) == set(fields), component
    required = {n for n, (req, _) in fields.items() if req or all_required}
    assert set(schema.get("required", [])) == required, component
    for name, (_, nullable) in fields.items():
        assert _allows_null(properties[name]) == nullable, f"{component}.{name}"
    assert schema.get("additionalProperties") is False, component


@pytest.mark.parametrize("component", RESPONSE_SHAPES)
def test_response_schemas_match_the_shapes_field_for_field(component):
    # model_dump writes every field, so an answer always has them all.
    _assert_matches(component, _fields(RESPONSE_SHAPES[component]), all_required=True)


@pytest.mark.parametrize("component", REQUEST_SHAPES)
def test_request_schemas_match_the_bodies_field_for_field(component):
    _assert_matches(component, _fields(REQUEST_SHAPES[component]), all_required=False)


def test_the_report_schemas_match_the_report():
    report = _fields(ValidationReport)
    report.update(valid=(True, False), invalid_rows=(True, False))  # added by to_dict
    _assert_matches("ValidationReport", report, all_required=True)
    _assert_matches("Issue", _fields(Issue), all_required=True)
    _assert_matches("TokenStats", _fields(TokenStats), all_required=True)


def test_the_upload_form_schema_lists_the_form_fields():
    schema = document()["components"]["schemas"]["UploadForm"]
    assert set(schema["properties"]) == {*datasets.UPLOAD_FILES, *datasets.UPLOAD_FIELDS}


def _fake(code: int, body: object, path: str = "automl/api/jobs/" + "a" * 32) -> HTTPResponse:
    request = HTTPRequest(
        f"http://127.0.0.1/base/{path}", method="GET", headers={"Authorization": "token x"}
    )
    return HTTPResponse(
        request, code, headers=HTTPHeaders({"Content-Type": "application/json"}),
        buffer=io.BytesIO(json.dumps(body).encode()),
    )


@pytest.mark.parametrize(
    "code, body",
    [
        (200, {"id": "a" * 32}),  # a job without most of its fields
        (404, {"error": "no job"}),  # an error body without a message
        (500, {"message": "boom"}),  # a status the document does not list
    ],
)
def test_the_checker_refuses_answers_that_break_the_document(code, body):
    with pytest.raises(OpenAPIError):
        check(_fake(code, body))


def test_the_checker_accepts_a_documented_error():
    check(_fake(404, {"message": "no job with id 'aaa'"}))


def test_the_document_ships_in_the_wheel():
    from hatchling.builders.wheel import WheelBuilder

    root = DOCUMENT.parents[2]
    files = {f.distribution_path for f in WheelBuilder(str(root)).recurse_included_files()}
    assert "jupyter_automl/rest/openapi.yaml" in files
