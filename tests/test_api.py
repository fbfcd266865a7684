"""The HTTP API, driven over real HTTP against the running app, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.imaging import corrupt_png_crc, encode, photo, png_header_only
from tests.live import BACKENDS, LiveService, live_service
from worker.webhooks import verify

LIMIT_BYTES = 3 * 1024 * 1024  # the test service's upload limit


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp(f"service-{request.param}")
    with live_service(request.param, tmp, max_file_bytes=LIMIT_BYTES) as live:
        yield live


@pytest.fixture(scope="module")
def artwork_jpeg() -> bytes:
    return encode(photo((1000, 2000)), "JPEG", quality=90)


def _upload(
    client: httpx.Client, data: bytes, name: str = "art.jpg", **fields: str
) -> httpx.Response:
    return client.post("/v1/artworks", files={"file": (name, data)}, data=fields)


def _submit(
    client: httpx.Client, artwork_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    payload = {"artwork_id": artwork_id, "template_id": "iphone-15", **body}
    return client.post("/v1/jobs", json=payload, headers=headers)


def _finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    for _ in range(12):
        response = client.get(f"/v1/jobs/{job_id}", params={"wait": 10})
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("done", "failed"):
            return job
    raise AssertionError(f"job {job_id} did not finish")


def _error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_upload_job_result_download(service: LiveService, artwork_jpeg: bytes) -> None:
    partner = service.client("partner", "acme")
    production = service.client("production")
    uploaded = _upload(partner, artwork_jpeg, template_id="iphone-15")
    assert uploaded.status_code == 201, uploaded.text
    artwork = uploaded.json()
    assert artwork["sha256"] == hashlib.sha256(artwork_jpeg).hexdigest()
    assert (artwork["format"], artwork["width_px"], artwork["height_px"]) == ("JPEG", 1000, 2000)
    assert artwork["quick_facts"]["meets_minimum"] is True
    again = _upload(partner, artwork_jpeg)
    assert again.status_code == 200 and again.json()["id"] == artwork["id"]  # deduplicated

    submitted = _submit(partner, artwork["id"])
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["Location"] == f"/v1/jobs/{submitted.json()['id']}"
    job = _finished(partner, submitted.json()["id"])
    assert job["status"] == "done" and job["verdict"] in ("pass", "warn")
    report = partner.get(job["links"]["report"]).json()
    assert report["schema"] == "preflight-report/1"
    assert [f["code"] for f in report["findings"]] == [f["code"] for f in job["findings"]]
    for link in ("proof", "proof_thumbnail", "overlay", "color_shift"):
        picture = partner.get(job["links"][link])
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
        assert picture.content.startswith(b"\x89PNG")
    jpeg = partner.get(job["links"]["proof"], params={"format": "jpg"})
    assert jpeg.headers["content-type"] == "image/jpeg"

    assert partner.get(job["links"]["print_file"]).status_code == 403
    print_file = production.get(job["links"]["print_file"])
    assert print_file.status_code == 200 and print_file.headers["content-type"] == "image/tiff"
    assert (
        hashlib.sha256(print_file.content).hexdigest() == report["outputs"]["print.tif"]["sha256"]
    )

    # Sign-off and approval, then the production batch with its manifest.
    if job["verdict"] == "warn":
        assert _error_code(production.post(f"/v1/jobs/{job['id']}/approve")) == "conflict"
        assert partner.post(f"/v1/jobs/{job['id']}/approve").json()["partner_signed_off_at"]
    approved = production.post(f"/v1/jobs/{job['id']}/approve", json={"reason": "looks right"})
    assert approved.json()["production_status"] == "approved"
    batch = production.get("/v1/production/batch", params={"job_id": job["id"]})
    assert batch.status_code == 200 and batch.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(batch.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        (entry,) = manifest["jobs"]
        assert entry["job"] == job["id"] and entry["template"] == "iphone-15"
        for file in entry["files"]:
            assert hashlib.sha256(archive.read(file["name"])).hexdigest() == file["sha256"]
    history = partner.get(f"/v1/jobs/{job['id']}", params={"history": True}).json()["history"]
    assert [event["action"] for event in history][:3] == ["created", "started", "finished"]
    assert history[-1]["action"] == "approved"


def test_tenant_isolation_and_roles(service: LiveService, artwork_jpeg: bytes) -> None:
    acme = service.client("partner", "acme")
    rival = service.client("partner", "rival")
    orders = service.client("order-service")
    artwork = _upload(acme, artwork_jpeg).json()
    job = _finished(acme, _submit(acme, artwork["id"]).json()["id"])
    # Another partner's ids do not exist for rival: 404 every time, never 403.
    for path in (
        f"/v1/artworks/{artwork['id']}",
        f"/v1/jobs/{job['id']}",
        f"/v1/jobs/{job['id']}/report",
        f"/v1/jobs/{job['id']}/proof",
        f"/v1/jobs/{job['id']}/overlay",
        f"/v1/jobs/{job['id']}/print-file",
    ):
        response = rival.get(path)
        assert response.status_code == 404, (path, response.text)
        assert _error_code(response) == "not-found"
    assert rival.post(f"/v1/jobs/{job['id']}/approve").status_code == 404
    assert _submit(rival, artwork["id"]).status_code == 404  # cannot use acme's artwork
    assert job["id"] not in [j["id"] for j in rival.get("/v1/jobs").json()["jobs"]]
    assert rival.get("/v1/jobs", params={"partner": "acme"}).json()["jobs"] == []
    # The order service submits and reads for any partner, but gets no print files.
    for_acme = _submit(orders, artwork["id"], partner="acme")
    assert for_acme.status_code == 202 and for_acme.json()["partner"] == "acme"
    assert _error_code(_submit(orders, artwork["id"])) == "invalid-request"  # which partner?
    for bad in ("x" * 65, "acme shop", "акме"):
        refused = orders.post("/v1/artworks", files={"file": ("a.jpg", artwork_jpeg)},
                              data={"partner": bad})  # fmt: skip
        assert refused.status_code == 422 and _error_code(refused) == "invalid-request"
    assert orders.get(f"/v1/jobs/{job['id']}").status_code == 200
    assert orders.get(f"/v1/jobs/{job['id']}/print-file").status_code == 403
    assert orders.post(f"/v1/jobs/{job['id']}/approve").status_code == 403
    # Unauthenticated, unknown and malformed keys.
    anonymous = service.client()
    assert _error_code(anonymous.get("/v1/jobs")) == "unauthorized"
    for header in ("Bearer pfk_nope_nope", "Basic abc", "Bearer", "Bearer " + "x" * 500):
        response = anonymous.get("/v1/jobs", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_idempotent_submissions_under_concurrency(
    service: LiveService, artwork_jpeg: bytes
) -> None:
    acme = service.client("partner", "acme")
    artwork = _upload(acme, artwork_jpeg).json()
    key = f"order-{threading.get_ident()}-{service.base_url}"

    def submit(_: int) -> httpx.Response:
        client = httpx.Client(base_url=service.base_url, headers=acme.headers, timeout=60)
        with client:
            return _submit(client, artwork["id"], key=key, placement={"scale": 1.1})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(submit, range(20)))
    assert all(r.status_code in (200, 202) for r in responses), [r.text for r in responses]
    assert sum(r.status_code == 202 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    other = _submit(acme, artwork["id"], key=key, placement={"scale": 1.2})
    assert other.status_code == 422 and _error_code(other) == "idempotency-key-reused"


def _raw_upload(
    base_url: str, chunks: int, chunk_size: int, declare_length: bool
) -> dict[str, Any]:
    """Send a multipart upload chunk by chunk on a plain socket and read the answer: the client
    side must not hide how early the server answered."""
    host, port = base_url.removeprefix("http://").split(":")
    boundary = "preflightboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    total = len(head) + chunks * chunk_size
    headers = [
        "POST /v1/artworks HTTP/1.1",
        f"Host: {host}",
        f"Authorization: Bearer {_RAW_KEY[base_url]}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
    ]
    headers.append(f"Content-Length: {total}" if declare_length else "Transfer-Encoding: chunked")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sent = 0
    try:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        payload = [head] + [b"\x89PNG" + b"\0" * (chunk_size - 4)] * chunks
        for piece in payload:
            data = piece if declare_length else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            sock.sendall(data)
            sent += len(piece)
    except OSError:
        pass  # the server answered and closed before the whole body was sent: expected
    reply = b""
    try:
        while b"\r\n\r\n" not in reply or len(reply) < reply.index(b"\r\n\r\n") + 200:
            part = sock.recv(65536)
            if not part:
                break
            reply += part
    except OSError:
        pass
    sock.close()
    status = int(reply.split(b" ", 2)[1])
    body = reply.split(b"\r\n\r\n", 1)[1]
    if b"\r\n" in body.split(b"{", 1)[0]:  # a chunked answer: drop the chunk size line
        body = body[body.index(b"{") :]
    document: dict[str, Any] = json.loads(body[: body.rindex(b"}") + 1])
    return {"status": status, "body": document, "sent": sent}


_RAW_KEY: dict[str, str] = {}


def test_upload_limit_is_enforced_while_streaming(service: LiveService) -> None:
    _RAW_KEY[service.base_url] = service.key("partner", "acme")
    chunk = 64 * 1024
    streamed = _raw_upload(service.base_url, chunks=200, chunk_size=chunk, declare_length=False)
    assert streamed["status"] == 413, streamed
    assert streamed["body"]["error"]["code"] == "file-too-large"
    details = streamed["body"]["error"]["details"]
    assert details["limit_bytes"] == LIMIT_BYTES
    # It stopped reading at the limit plus at most one network read (asyncio reads up to
    # 256 KiB at a time), far from the 12.5 MiB that were on their way.
    assert LIMIT_BYTES < details["body_bytes_read"] <= LIMIT_BYTES + 256 * 1024
    declared = _raw_upload(service.base_url, chunks=200, chunk_size=chunk, declare_length=True)
    assert (
        declared["status"] == 413 and declared["body"]["error"]["details"]["body_bytes_read"] == 0
    )
    # A file within the limit but not an image is a different error.
    small = _upload(service.client("partner", "acme"), b"\x89PNG\r\n\x1a\n" + b"\0" * 999, "x.png")
    assert small.status_code == 422 and _error_code(small) == "corrupt-image"


def _lab_tiff() -> bytes:
    return encode(Image.new("LAB", (64, 64), (50, 0, 0)), "TIFF")


def _float_tiff() -> bytes:
    return encode(Image.fromarray(np.zeros((32, 32), dtype=np.float32), "F"), "TIFF")


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("notes.txt", lambda: b"hello, this is text", 415, "unsupported-format"),
        ("anim.gif", lambda: encode(Image.new("P", (8, 8)), "GIF"), 415, "unsupported-format"),
        ("lab.tif", _lab_tiff, 415, "unsupported-color-mode"),
        ("float.tif", _float_tiff, 415, "unsupported-color-mode"),
        (
            "broken.png",
            lambda: corrupt_png_crc(encode(photo((64, 64)), "PNG")),
            422,
            "corrupt-image",
        ),
        ("empty.png", lambda: b"", 422, "corrupt-image"),
        ("bomb.png", lambda: png_header_only(100_000, 100_000), 413, "image-too-large"),
    ],
)
def test_bad_uploads_get_a_4xx_with_the_code(
    service: LiveService, name: str, make: Any, status: int, code: str
) -> None:
    response = _upload(service.client("partner", "acme"), make(), name)
    assert response.status_code == status, response.text
    assert _error_code(response) == code
    assert response.json()["error"]["message"]


def _upload_without_file(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/artworks", data={"template_id": "iphone-15"}, files={"x": ("a", b"b")})


def test_bad_requests_get_a_4xx_with_the_code(service: LiveService, artwork_jpeg: bytes) -> None:
    acme = service.client("partner", "acme")
    artwork = _upload(acme, artwork_jpeg).json()
    cases = [
        (_upload(acme, artwork_jpeg, template_id="iphone-99"), 404, "unknown-template"),
        (acme.post("/v1/artworks", content=b"raw bytes"), 422, "invalid-request"),
        (
            acme.post("/v1/artworks", data={"template_id": "iphone-15"}, files={"x": ("a", b"b")}),
            422,
            "invalid-request",
        ),
        (_submit(acme, artwork["id"], template_id="iphone-99"), 404, "unknown-template"),
        (
            acme.post("/v1/jobs", json={"artwork_id": artwork["id"], "sku": "NOPE"}),
            404,
            "unknown-sku",
        ),
        (acme.post("/v1/jobs", json={"artwork_id": artwork["id"]}), 422, "invalid-request"),
        (_submit(acme, artwork["id"], placement={"scale": 0}), 422, "invalid-request"),
        (_submit(acme, artwork["id"], placement={"center": [2, 2]}), 422, "invalid-placement"),
        (_submit(acme, artwork["id"], options={"output_profile": "nope"}), 404, "unknown-profile"),
        (_submit(acme, "art_missing"), 404, "not-found"),
        (acme.get("/v1/jobs/job_missing"), 404, "not-found"),
        (acme.get("/v1/jobs", params={"cursor": "garbage"}), 422, "invalid-request"),
        (acme.get("/v1/nothing-here"), 404, "not-found"),
        (acme.delete("/v1/jobs"), 405, "method-not-allowed"),
    ]
    for response, status, code in cases:
        assert (response.status_code, _error_code(response)) == (status, code), response.text


def test_a_file_damaged_inside_fails_its_job_with_the_code(
    service: LiveService, artwork_jpeg: bytes
) -> None:
    acme = service.client("partner", "acme")
    truncated = artwork_jpeg[: len(artwork_jpeg) // 3]  # the header is fine, the data is not
    artwork = _upload(acme, truncated, "cut.jpg")
    assert artwork.status_code == 201, artwork.text
    job = _finished(acme, _submit(acme, artwork.json()["id"]).json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "corrupt-image"
    assert job["attempts"] == 1  # a bad artwork is not retried
    result = acme.get(f"/v1/jobs/{job['id']}/proof")
    assert result.status_code == 409 and _error_code(result) == "job-not-finished"


def test_listing_filters_and_cursor_pagination(service: LiveService, artwork_jpeg: bytes) -> None:
    client = service.client("partner", "lister")
    artwork = _upload(client, artwork_jpeg).json()
    ids = {
        _submit(client, artwork["id"], placement={"scale": 1 + i / 10}).json()["id"]
        for i in range(5)
    }
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5 and set(seen) == ids
    for job_id in ids:
        _finished(client, job_id)
    done = client.get("/v1/jobs", params={"status": "done", "template_id": "iphone-15"}).json()
    assert {job["id"] for job in done["jobs"]} == ids
    assert client.get("/v1/jobs", params={"status": "queued"}).json()["jobs"] == []
    production = service.client("production")
    mine = production.get("/v1/jobs", params={"partner": "lister", "limit": 200}).json()["jobs"]
    assert {job["id"] for job in mine} == ids


class _Receiver(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []
    fail_first = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append({"headers": dict(self.headers), "body": body})
        failing = type(self).fail_first and len(type(self).calls) == 1
        self.send_response(500 if failing else 204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_is_signed_retried_and_recorded(service: LiveService, artwork_jpeg: bytes) -> None:
    _Receiver.calls = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        acme = service.client("partner", "acme")
        artwork = _upload(acme, artwork_jpeg).json()
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/preflight"
        job = _finished(
            acme,
            _submit(acme, artwork["id"], callback_url=url, placement={"scale": 1.3}).json()["id"],
        )
        for _ in range(100):
            if len(_Receiver.calls) >= 2:
                break
            threading.Event().wait(0.1)
        assert len(_Receiver.calls) == 2  # the first answered 500, the retry 204
        secret = service.webhook_secret("acme")
        for call in _Receiver.calls:
            assert verify(secret, call["headers"]["Preflight-Signature"], call["body"])
            assert not verify("whsec_wrong", call["headers"]["Preflight-Signature"], call["body"])
            document = json.loads(call["body"])
            assert document["event"] == "job.finished" and document["job"]["id"] == job["id"]
            assert document["job"]["verdict"] == job["verdict"]
        threading.Event().wait(1.5)  # no third call once delivered
        assert len(_Receiver.calls) == 2
        from sqlalchemy import select

        from api.records import WebhookDelivery

        with service.db.session() as session:
            (delivery,) = session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.job_id == job["id"])
            ).all()
        assert delivery.status == "delivered" and delivery.attempts == 2
        assert [a["status_code"] for a in delivery.attempts_log["attempts"]] == [500, 204]
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_health_readiness_metrics_and_openapi(service: LiveService) -> None:
    client = service.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and set(ready["checks"]) == {
        "database",
        "schema",
        "broker",
        "storage",
    }
    metrics = client.get("/metrics").text
    assert 'preflight_jobs{status="done"}' in metrics and "preflight_queue_depth" in metrics
    assert "preflight_http_requests_total" in metrics
    document = client.get("/openapi.json").json()
    assert document["info"]["version"] == "1"
    assert "/v1/jobs/{job_id}/print-file" in document["paths"]
    upload = document["paths"]["/v1/artworks"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_templates_and_guides(service: LiveService) -> None:
    client = service.client("partner", "acme")
    templates = client.get("/v1/templates").json()
    assert len(templates) == 96 and {"id", "name", "canvas_px"} <= set(templates[0])
    one = client.get("/v1/templates/ipad-10").json()
    assert one["canvas_px"] == {"width": 2219, "height": 3035}
    png = client.get("/v1/templates/iphone-15/guide.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = client.get("/v1/templates/iphone-15/guide.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    assert _error_code(client.get("/v1/templates/nope/guide.png")) == "unknown-template"
