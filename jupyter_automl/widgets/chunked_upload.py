"""A file picker that streams a browser file to the kernel in acknowledged slices.

``ipywidgets.FileUpload`` sends a file whole in one message: a large CSV or image zip sits
twice in memory and can pass the server's message limit. This widget's page side reads one
slice (``chunk_bytes``) at a time and waits for the kernel's acknowledgement before the next,
and the kernel appends each slice to a file in the data folder's ``staging/``; the upload
limit is checked before the first byte and as bytes arrive.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
from traitlets import Bool, Int, Unicode

from ..errors import AutoMLError

CHUNK_BYTES = 1024 * 1024


class ChunkedUpload(anywidget.AnyWidget):
    _esm = Path(__file__).with_name("chunked_upload.js")
    accept = Unicode(".csv,.tsv,.zip").tag(sync=True)
    chunk_bytes = Int(CHUNK_BYTES).tag(sync=True)

    filename = Unicode("", help="The name of the file being or last received.")
    size = Int(0, help="Its size in bytes, as the browser announced it.")
    received = Int(0, help="Bytes received so far.")
    path = Unicode("", help="Where the complete file lies; set once every byte arrived.")
    complete = Bool(False)

    def __init__(self, staging: Path, check_size: Callable[[int, str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.staging = Path(staging)
        self.check_size = check_size
        self._handle: Any = None
        self._folder: Path | None = None
        self.on_msg(self._on_message)

    def _on_message(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        try:
            if content.get("type") == "begin":
                self._begin(str(content.get("name") or "upload"), int(content.get("size") or 0))
            elif content.get("type") == "chunk":
                self._chunk(int(content.get("offset", -1)), buffers)
        except AutoMLError as error:
            self._abort()
            self.send({"type": "error", "message": error.message})

    def _begin(self, name: str, size: int) -> None:
        self._abort()
        self.check_size(size, f"{name} ({size:,} bytes)")
        self.staging.mkdir(parents=True, exist_ok=True)
        self._folder = Path(tempfile.mkdtemp(prefix="widget-", dir=self.staging))
        target = self._folder / Path(name).name
        self._handle = target.open("wb")
        self.set_trait("complete", False)
        self.path = ""
        self.filename, self.size, self.received = Path(name).name, size, 0
        self._acknowledge()

    def _chunk(self, offset: int, buffers: list[Any]) -> None:
        if self._handle is None:
            raise AutoMLError("a file slice arrived before the upload began; choose the file again")
        if offset != self.received:
            raise AutoMLError(f"slice at byte {offset} arrived, {self.received} expected; upload again")
        data = b"".join(bytes(b) for b in buffers)
        self.check_size(self.received + len(data), self.filename)
        self._handle.write(data)
        self.received += len(data)
        self._acknowledge()

    def _acknowledge(self) -> None:
        if self.received >= self.size and self._handle is not None:
            self._handle.close()
            self._handle = None
            assert self._folder is not None
            self.path = str(self._folder / self.filename)
            self.complete = True
        self.send({"type": "ack", "received": self.received})

    def _abort(self) -> None:
        """Drop a partly received file (a new file chosen, or a limit passed)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            assert self._folder is not None
            for part in self._folder.iterdir():
                part.unlink()
            self._folder.rmdir()

    def discard(self) -> None:
        """Remove the received file once it has been stored elsewhere."""
        if self.path:
            received = Path(self.path)
            received.unlink(missing_ok=True)
            if received.parent.is_dir() and not any(received.parent.iterdir()):
                received.parent.rmdir()
            self.path = ""
            self.complete = False
