"""The HTTP API: routes, auth, one error handler. It stores uploads, records and dispatches
jobs, and serves results; the pixels are the worker's (through the library).

Every error is ``{"error": {"code", "message", "details"}}`` with a stable code; a request
the API cannot understand is a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import metrics
from api.auth import Principal, authenticate
from api.db import Database
from api.errors import NotFound
from api.records import Job, JobStatus
from api.schemas import (
    ArtworkOut,
    DecisionIn,
    ErrorOut,
    JobIn,
    JobList,
    JobOut,
    MeOut,
    TemplateOut,
)
from api.service import Dispatcher, Service, job_document
from api.storage import Storage
from api.uploads import receive_upload
from preflight.color import ProfileLibrary
from preflight.errors import PreflightError
from preflight.guide import render_guide_png, render_guide_svg
from preflight.settings import Settings
from preflight.templates import load_catalog

__all__ = ["create_app"]

log = logging.getLogger("preflight.api")
CONSOLE_DIR = Path(__file__).resolve().parent / "console"
API_VERSION = "1"
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (401, "no or unknown API key"),
        (403, "the key's role may not do this"),
        (404, "no such id (or another partner's)"),
        (409, "the job is not in a state that allows this"),
        (413, "the file is over the size or pixel limit"),
        (415, "not an accepted format or colour mode"),
        (422, "the request or the file is invalid"),
        (503, "a dependency is unavailable; try again"),
    )
}
_MEDIA = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".tif": "image/tiff",
    ".json": "application/json",
}
_PICTURE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}, "image/jpeg": {}}}}
_TIFF: dict[int | str, dict[str, Any]] = {200: {"content": {"image/tiff": {}}}}


class EmbeddedDispatcher:
    """The embedded queue: workers poll the job records, so there is nothing to send."""

    kind = "embedded"

    def dispatch(self, job_id: str) -> None:
        return None

    def ping(self) -> None:
        return None


def _error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message, "details": details or {}}},
    )


_BEARER = HTTPBearer(auto_error=False, description="an API key from `preflight keys create`")


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` (documented in OpenAPI by HTTPBearer;
    the header is read here so that a malformed one gets our 401, not the framework's)."""
    service: Service = request.app.state.service
    with service.db.session() as session:
        return authenticate(session, request.headers.get("authorization"))


# Module level: route annotations are strings (PEP 563) and resolve in this module's globals.
Caller = Annotated[Principal, Depends(_principal)]


def create_app(settings: Settings | None = None, dispatcher: Dispatcher | None = None) -> FastAPI:
    """Build the app from settings (the database must already be migrated)."""
    settings = settings or Settings()
    db = Database(settings.effective_database_url)
    extra_profiles = [settings.profiles_dir] if settings.profiles_dir else []
    service = Service(
        settings=settings,
        db=db,
        storage=Storage(settings.effective_storage_dir),
        catalog=load_catalog(settings.templates_dir),
        profiles=ProfileLibrary(extra_profiles),
        dispatcher=dispatcher or EmbeddedDispatcher(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = FastAPI(
        title="Case preflight API",
        version=API_VERSION,
        description=(
            "Upload artwork for a phone or tablet case, preflight it against the device "
            "template, and download proofs and print files. Authenticate with "
            "`Authorization: Bearer <API key>` (`preflight keys create`)."
        ),
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.service = service
    registry = metrics.build_registry(service)

    # --- errors ------------------------------------------------------------------------

    @app.exception_handler(PreflightError)
    async def _domain_error(_: Request, exc: PreflightError) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message, getattr(exc, "details", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"where": "request", "problem": "invalid"}
        return _error(
            422,
            "invalid-request",
            f"{first['where']}: {first['problem']}",
            {"problems": problems},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not-found", 405: "method-not-allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http-error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error(500, "internal-error", "something went wrong on our side; it was logged")

    @app.middleware("http")
    async def _count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.observe_request(
            request.method,
            getattr(route, "path", "unmatched"),
            response.status_code,
            time.perf_counter() - started,
        )
        return response

    # --- health --------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"], summary="the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="database, broker and storage are usable")
    def readyz() -> JSONResponse:
        checks: dict[str, dict[str, str]] = {}
        for name, probe in (
            ("database", db.ping),
            ("schema", lambda: _require(db.is_current(), "migrations pending: preflight migrate")),
            ("broker", service.dispatcher.ping),
            ("storage", service.storage.check_writable),
        ):
            try:
                probe()
                checks[name] = {"status": "ok"}
            except Exception as exc:
                checks[name] = {"status": "failing", "error": str(exc)[:300]}
        ready = all(check["status"] == "ok" for check in checks.values())
        checks["broker"]["kind"] = service.dispatcher.kind
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"status": "ready" if ready else "not-ready", "checks": checks},
        )

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    def metrics_endpoint() -> Response:
        body, content_type = metrics.render(registry)
        return Response(body, media_type=content_type)

    # --- who am I (the console signs in with it) -----------------------------------------

    @app.get("/v1/me", tags=["auth"], response_model=MeOut, summary="the caller's key and role")
    def me(caller: Caller) -> dict[str, Any]:
        return {"key_id": caller.key_id, "role": caller.role, "partner": caller.partner}

    # --- the web console: static pages that use only the API above ---------------------------

    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    # --- templates -----------------------------------------------------------------------

    @app.get("/v1/templates", tags=["templates"], response_model=list[TemplateOut])
    def list_templates(_: Caller) -> list[dict[str, object]]:
        return [template.to_dict() for template in service.catalog]

    @app.get("/v1/templates/{template_id}", tags=["templates"], response_model=TemplateOut)
    def get_template(template_id: str, _: Caller) -> dict[str, object]:
        return service.catalog.get(template_id).to_dict()

    @lru_cache(maxsize=32)
    def guide(template_id: str, kind: str) -> bytes:
        template = service.catalog.get(template_id)
        return render_guide_png(template) if kind == "png" else render_guide_svg(template)

    @app.get(
        "/v1/templates/{template_id}/guide.{kind}",
        tags=["templates"],
        response_class=Response,
        responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    )
    def template_guide(template_id: str, kind: Literal["png", "svg"], _: Caller) -> Response:
        data = guide(template_id, kind)
        media = "image/png" if kind == "png" else "image/svg+xml"
        return Response(
            data,
            media_type=media,
            headers={"Content-Disposition": f'inline; filename="{template_id}-guide.{kind}"'},
        )

    # --- artworks ------------------------------------------------------------------------

    @app.post(
        "/v1/artworks",
        tags=["artworks"],
        status_code=201,
        response_model=ArtworkOut,
        responses={200: {"model": ArtworkOut, "description": "the same file was stored before"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "template_id": {
                                    "type": "string",
                                    "description": "answer with quick facts for it",
                                },
                                "partner": {
                                    "type": "string",
                                    "description": "order-service keys: the partner",
                                },
                            },
                        }
                    }
                },
            }
        },
        summary="upload an artwork (PNG, JPEG or TIFF), streamed under the size limit",
    )
    async def upload_artwork(
        request: Request, caller: Caller, response: Response
    ) -> dict[str, Any]:
        upload = await receive_upload(request, service.storage, settings.max_file_bytes)
        artwork, created = await run_in_threadpool(service.store_artwork, caller, upload)
        if not created:
            response.status_code = 200
        out = _artwork_out(artwork)
        template_id = upload.fields.get("template_id")
        if template_id:
            out["quick_facts"] = service.quick_facts(artwork, template_id)
        return out

    @app.get("/v1/artworks/{artwork_id}", tags=["artworks"], response_model=ArtworkOut)
    def get_artwork(
        artwork_id: str,
        caller: Caller,
        template_id: Annotated[str | None, Query(description="add quick facts for it")] = None,
    ) -> dict[str, Any]:
        artwork = service.visible_artwork(caller, artwork_id)
        out = _artwork_out(artwork)
        if template_id:
            out["quick_facts"] = service.quick_facts(artwork, template_id)
        return out

    # --- jobs ----------------------------------------------------------------------------

    @app.post(
        "/v1/jobs",
        tags=["jobs"],
        status_code=202,
        response_model=JobOut,
        responses={200: {"model": JobOut, "description": "replay of an Idempotency-Key"}},
    )
    def submit_job(
        body: JobIn,
        caller: Caller,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                max_length=255,
                description="same key and body: the same job; same key, other body: 422",
            ),
        ] = None,
    ) -> dict[str, Any]:
        job, created = service.submit_job(caller, body, idempotency_key)
        if not created:
            response.status_code = 200
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return job_document(job)

    @app.get("/v1/jobs", tags=["jobs"], response_model=JobList)
    def list_jobs(
        caller: Caller,
        status: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None,
        verdict: Annotated[Literal["pass", "warn", "fail"] | None, Query()] = None,
        template_id: Annotated[str | None, Query(max_length=80)] = None,
        partner: Annotated[str | None, Query(max_length=64)] = None,
        production_status: Annotated[Literal["approved", "rejected"] | None, Query()] = None,
        created_after: Annotated[dt.datetime | None, Query()] = None,
        created_before: Annotated[dt.datetime | None, Query()] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        jobs, next_cursor = service.list_jobs(
            caller,
            status=status,
            verdict=verdict,
            template_id=template_id,
            partner=partner,
            production_status=production_status,
            created_after=_aware(created_after),
            created_before=_aware(created_before),
            cursor=cursor,
            limit=limit,
        )
        return {"jobs": [job_document(job) for job in jobs], "next_cursor": next_cursor}

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], response_model=JobOut)
    async def get_job(
        job_id: str,
        caller: Caller,
        wait: Annotated[
            float,
            Query(ge=0, le=300, description="long-poll: wait up to this many seconds for the end"),
        ] = 0,
        history: Annotated[bool, Query(description="include the job's history")] = False,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + min(wait, settings.max_wait_s)
        job: Job = await run_in_threadpool(service.visible_job, caller, job_id)
        while job.status not in JobStatus.FINISHED and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            job = await run_in_threadpool(service.visible_job, caller, job_id)
        out = job_document(job)
        if history:
            out["history"] = await run_in_threadpool(service.history, job.id)
        return out

    def _send(caller: Principal, job_id: str, result: str, download: bool = False) -> FileResponse:
        job, key = service.result_file(caller, job_id, result)
        path = service.storage.path(key)
        suffix = path.suffix
        filename = f"{job.id}-{path.name}"
        return FileResponse(
            path,
            media_type=_MEDIA.get(suffix, "application/octet-stream"),
            filename=filename if download else None,
            content_disposition_type="attachment" if download else "inline",
        )

    @app.get("/v1/jobs/{job_id}/report", tags=["results"], summary="the preflight report")
    def job_report(job_id: str, caller: Caller) -> JSONResponse:
        _, key = service.result_file(caller, job_id, "report")
        return JSONResponse(json.loads(service.storage.read(key)))

    @app.get(
        "/v1/jobs/{job_id}/proof", tags=["results"], response_class=FileResponse, responses=_PICTURE
    )
    def job_proof(
        job_id: str, caller: Caller, format: Annotated[Literal["png", "jpg"], Query()] = "png"
    ) -> FileResponse:
        return _send(caller, job_id, "proof" if format == "png" else "proof.jpg")

    @app.get(
        "/v1/jobs/{job_id}/proof/thumbnail",
        tags=["results"],
        response_class=FileResponse,
        responses=_PICTURE,
    )
    def job_proof_thumbnail(
        job_id: str, caller: Caller, format: Annotated[Literal["png", "jpg"], Query()] = "png"
    ) -> FileResponse:
        return _send(
            caller, job_id, "proof-thumbnail" if format == "png" else "proof-thumbnail.jpg"
        )

    @app.get(
        "/v1/jobs/{job_id}/overlay",
        tags=["results"],
        response_class=FileResponse,
        responses=_PICTURE,
    )
    def job_overlay(job_id: str, caller: Caller) -> FileResponse:
        return _send(caller, job_id, "overlay")

    @app.get(
        "/v1/jobs/{job_id}/color-shift",
        tags=["results"],
        response_class=FileResponse,
        responses=_PICTURE,
    )
    def job_color_shift(job_id: str, caller: Caller) -> FileResponse:
        return _send(caller, job_id, "color-shift")

    @app.get(
        "/v1/jobs/{job_id}/print-file",
        tags=["results"],
        response_class=FileResponse,
        responses=_TIFF,
        summary="the CMYK print file (production role)",
    )
    def job_print_file(job_id: str, caller: Caller) -> FileResponse:
        return _send(caller, job_id, "print-file", download=True)

    @app.get(
        "/v1/jobs/{job_id}/print-file/white-mask",
        tags=["results"],
        response_class=FileResponse,
        responses=_TIFF,
        summary="the white underbase mask of a clear case (production role)",
    )
    def job_white_mask(job_id: str, caller: Caller) -> FileResponse:
        return _send(caller, job_id, "white-mask", download=True)

    @app.post("/v1/jobs/{job_id}/approve", tags=["decisions"], response_model=JobOut)
    def approve(job_id: str, caller: Caller, body: DecisionIn | None = None) -> dict[str, Any]:
        job = service.decide(caller, job_id, True, body.reason if body else None)
        return job_document(job)

    @app.post("/v1/jobs/{job_id}/reject", tags=["decisions"], response_model=JobOut)
    def reject(job_id: str, caller: Caller, body: DecisionIn | None = None) -> dict[str, Any]:
        job = service.decide(caller, job_id, False, body.reason if body else None)
        return job_document(job)

    # --- production ------------------------------------------------------------------------

    @app.get(
        "/v1/production/batch",
        tags=["production"],
        response_class=StreamingResponse,
        responses={200: {"content": {"application/zip": {}}}},
        summary="a ZIP of approved print files with manifest.json (production role)",
    )
    def production_batch(
        caller: Caller,
        template_id: Annotated[str | None, Query(max_length=80)] = None,
        since: Annotated[dt.datetime | None, Query(description="approved at or after")] = None,
        job_id: Annotated[list[str] | None, Query(description="only these jobs")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> StreamingResponse:
        caller.require("production")
        jobs = service.approved_for_batch(template_id, _aware(since), job_id, limit)
        if not jobs:
            raise NotFound("no approved jobs match; approve jobs first or widen the filters")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        return StreamingResponse(
            service.batch_zip(jobs),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="print-batch-{stamp}.zip"'},
        )

    return app


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _artwork_out(artwork: Any) -> dict[str, Any]:
    return {
        "id": artwork.id,
        "partner": artwork.partner,
        "sha256": artwork.sha256,
        "file_name": artwork.file_name,
        "bytes": artwork.bytes,
        "format": artwork.format,
        "width_px": artwork.width_px,
        "height_px": artwork.height_px,
        "mode": artwork.mode,
        "summary": artwork.summary,
        "created_at": artwork.created_at,
        "quick_facts": None,
    }
