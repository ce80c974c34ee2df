"""The streaming multipart/form-data parser, fed in chunks of every size."""

from __future__ import annotations

import os

import pytest

from jupyter_automl.errors import InvalidInput
from jupyter_automl.rest.multipart import MultipartParser, form_boundary
from tests.rest.forms import BOUNDARY, form_body

# Bytes that look like a boundary without being one, to catch a parser that splits on them.
TRICKY = b"a,b\r\n1,2\r\n--" + BOUNDARY[:-1].encode() + b"\r\n\r\n--\r\n"


def parse(body: bytes, folder, chunk: int | None = None, **limits):
    parser = MultipartParser(BOUNDARY.encode(), folder, **limits)
    step = chunk or len(body) or 1
    for i in range(0, len(body), step):
        parser.feed(body[i : i + step])
    return parser.close()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000, 65536, None])
def test_fields_and_files_survive_any_chunking(tmp_path, chunk):
    data = TRICKY + os.urandom(3000) + TRICKY
    body, _ = form_body({"model_type": "llm_chat", "name": "Résumé ✓"}, {"file": ("chat.csv", data)})
    form = parse(body, tmp_path / f"spool-{chunk}", chunk)
    assert form.fields == {"model_type": "llm_chat", "name": "Résumé ✓"}
    part = form.files["file"]
    assert (part.filename, part.size, part.content_type) == ("chat.csv", len(data), "application/octet-stream")
    assert part.path.read_bytes() == data


def test_file_parts_are_written_to_disk_as_they_arrive(tmp_path):
    data = os.urandom(200_000)
    body, _ = form_body(files={"file": ("big.csv", data)})
    parser = MultipartParser(BOUNDARY.encode(), tmp_path)
    parser.feed(body[:150_000])
    written = next(tmp_path.rglob("big.csv"))
    assert written.stat().st_size > 140_000  # everything but a boundary's length of look-behind
    assert len(parser._buffer) < 100
    parser.feed(body[150_000:])
    assert parser.close().files["file"].path.read_bytes() == data


def test_an_empty_file_and_preamble_and_epilogue(tmp_path):
    body, _ = form_body({"a": ""}, {"file": ("empty.csv", b"")})
    form = parse(b"ignored preamble\r\n" + body + b"ignored epilogue", tmp_path)
    assert form.fields == {"a": ""}
    assert form.files["file"].size == 0


@pytest.mark.parametrize(
    "filename, kept", [("C:\\Users\\me\\data.csv", "data.csv"), ("../../etc/passwd", "passwd"), ("..", "file")]
)
def test_only_the_last_part_of_a_filename_is_kept(tmp_path, filename, kept):
    body, _ = form_body(files={"file": (filename, b"x")})
    part = parse(body, tmp_path).files["file"]
    assert part.filename == kept and part.path.parent.parent == tmp_path


def test_a_body_without_its_closing_boundary_is_refused(tmp_path):
    body, _ = form_body({"a": "1"})
    with pytest.raises(InvalidInput, match="ends before its closing boundary"):
        parse(body[: body.rindex(b"--" + BOUNDARY.encode())], tmp_path)


@pytest.mark.parametrize(
    "part, message",
    [
        (b'Content-Disposition: attachment; name="a"\r\n\r\nx', "not Content-Disposition: form-data"),
        (b"Content-Disposition: form-data\r\n\r\nx", "has no name"),
        (b"X-Long: " + b"y" * 20_000 + b"\r\n\r\nx", "headers of a part are too long"),
    ],
)
def test_malformed_parts_are_refused(tmp_path, part, message):
    body = f"--{BOUNDARY}\r\n".encode() + part + f"\r\n--{BOUNDARY}--\r\n".encode()
    with pytest.raises(InvalidInput, match=message):
        parse(body, tmp_path)


def test_text_after_a_boundary_is_refused(tmp_path):
    body = f"--{BOUNDARY}junk\r\n".encode()
    with pytest.raises(InvalidInput, match="text after a boundary"):
        parse(body, tmp_path)


def test_a_field_twice_is_refused(tmp_path):
    body, _ = form_body({"a": "1"})
    twice = body.replace(f"--{BOUNDARY}--".encode(), body[: body.index(b"1\r\n") + 3] + f"--{BOUNDARY}--".encode())
    with pytest.raises(InvalidInput, match="more than one 'a'"):
        parse(twice, tmp_path)


def test_text_fields_are_small_and_utf8(tmp_path):
    body, _ = form_body({"name": "x" * 101})
    with pytest.raises(InvalidInput, match="'name' is longer than 100 bytes"):
        parse(body, tmp_path / "long", max_field_bytes=100)
    body, _ = form_body({"name": "é"})
    with pytest.raises(InvalidInput, match="not UTF-8"):
        parse(body.replace("é".encode(), b"\xe9"), tmp_path / "latin")


@pytest.mark.parametrize(
    "content_type, message",
    [
        (None, "not 'no Content-Type'"),
        ("application/json", "not 'application/json'"),
        ("multipart/form-data", "no valid boundary"),
        ("multipart/form-data; boundary=" + "b" * 71, "no valid boundary"),
    ],
)
def test_the_boundary_comes_from_a_form_content_type(content_type, message):
    with pytest.raises(InvalidInput, match=message):
        form_boundary(content_type)


def test_a_quoted_boundary_is_read():
    assert form_boundary('multipart/form-data; boundary="a b:c"') == b"a b:c"
