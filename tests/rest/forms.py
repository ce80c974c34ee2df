"""multipart/form-data bodies for upload tests, built by hand so a test can also break them."""

from __future__ import annotations

from pathlib import Path

BOUNDARY = "----automl-test-boundary-7MA4YWxk"


def form_body(
    fields: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes | Path]] | None = None,
    *,
    boundary: str = BOUNDARY,
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a form with text ``fields`` and ``files`` (name -> (filename, data))."""
    parts = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, data) in (files or {}).items():
        content = data.read_bytes() if isinstance(data, Path) else data
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
