"""Streaming multipart uploads under a byte limit.

FastAPI's ``UploadFile`` reads the whole body before the route runs; here the body is parsed
chunk by chunk as it arrives, the file part goes straight to a temporary file in storage while
its SHA-256 is computed, and the request is refused as soon as the file passes the limit: at
most the limit plus one network chunk is ever read. A declared ``Content-Length`` over the
limit is refused before reading anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from api.errors import BadRequest, PayloadTooLarge
from api.storage import Storage

__all__ = ["FORM_OVERHEAD_BYTES", "Upload", "receive_upload"]

# Room for the multipart framing and the small text fields beside the file.
FORM_OVERHEAD_BYTES = 64 * 1024
_MAX_FIELD_BYTES = 1024
_FILE_FIELD = "file"


@dataclass
class Upload:
    """The received file (in a temporary file on the storage's disk) and the text fields."""

    path: Path | None = None
    file_name: str = "artwork"
    bytes: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    body_bytes_read: int = 0


class _Receiver:
    def __init__(self, storage: Storage, max_file_bytes: int) -> None:
        self.storage = storage
        self.max_file_bytes = max_file_bytes
        self.upload = Upload()
        self._hash = hashlib.sha256()
        self._handle: object = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._part_name: str | None = None
        self._is_file = False
        self._field_value = bytearray()
        self.error: Exception | None = None

    # --- parser callbacks (synchronous, called from MultipartParser.write) ----------------

    def on_part_begin(self) -> None:
        self._headers = {}
        self._part_name = None
        self._is_file = False
        self._field_value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.strip().lower()] = self._header_value.strip()
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._part_name = name
        if name == _FILE_FIELD:
            if self.upload.path is not None:
                self.error = BadRequest("send one file per upload (one 'file' field)")
                return
            self._is_file = True
            raw_name = options.get(b"filename", b"artwork").decode("utf-8", "replace")
            self.upload.file_name = Path(raw_name.replace("\\", "/")).name[:200] or "artwork"
            self.upload.path = self.storage.incoming()
            self._handle = self.upload.path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        chunk = data[start:end]
        if self._is_file:
            self.upload.bytes += len(chunk)
            if self.upload.bytes > self.max_file_bytes:
                self.error = _too_large(self.max_file_bytes, self.upload.body_bytes_read)
                return
            self._hash.update(chunk)
            self._handle.write(chunk)  # type: ignore[attr-defined]
        else:
            self._field_value += chunk
            if len(self._field_value) > _MAX_FIELD_BYTES:
                self.error = BadRequest(f"form field {self._part_name!r} is too long")

    def on_part_end(self) -> None:
        if self._is_file and self._handle is not None:
            self._handle.close()  # type: ignore[attr-defined]
            self._handle = None
        elif self._part_name:
            self.upload.fields[self._part_name] = self._field_value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()  # type: ignore[attr-defined]
            self._handle = None


def _too_large(limit: int, read: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the {limit / 1e6:.1f} MB limit; export a smaller file "
        "(at 300 ppi a case never needs more)",
        {"limit_bytes": limit, "body_bytes_read": read},
    )


async def receive_upload(request: Request, storage: Storage, max_file_bytes: int) -> Upload:
    """Parse a ``multipart/form-data`` body with one ``file`` part and small text fields."""
    content_type = request.headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest(
            "send the artwork as multipart/form-data with the file in a field named 'file'"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_file_bytes + FORM_OVERHEAD_BYTES:
        raise _too_large(max_file_bytes, 0)
    receiver = _Receiver(storage, max_file_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            receiver.upload.body_bytes_read += len(chunk)
            if receiver.upload.body_bytes_read > max_file_bytes + FORM_OVERHEAD_BYTES:
                raise _too_large(max_file_bytes, receiver.upload.body_bytes_read)
            try:
                parser.write(chunk)
            except Exception as exc:  # the parser's own complaints: a malformed body
                raise BadRequest(f"the multipart body is malformed ({exc})") from exc
            if receiver.error is not None:
                if isinstance(receiver.error, PayloadTooLarge):
                    receiver.error.details["body_bytes_read"] = receiver.upload.body_bytes_read
                raise receiver.error
        parser.finalize()
    except BaseException:
        receiver.close()
        if receiver.upload.path is not None:
            receiver.upload.path.unlink(missing_ok=True)
        raise
    receiver.close()
    if receiver.upload.path is None:
        raise BadRequest("the upload has no 'file' field", {"field": "file"})
    receiver.upload.sha256 = receiver._hash.hexdigest()
    return receiver.upload
