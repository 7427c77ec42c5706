"""The gateway's FastAPI app: builds backends, catalog and gateway at start-up, and the routes."""

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ganc.settings import Settings, get_settings

from . import metrics
from .api.routes import demo, health, jobs, models, translate
from .backends import Backend, OnnxCpuBackend, TritonBackend
from .catalog import Catalog
from .estimates import LatencyEstimates
from .gateway import Gateway, GatewayError
from .images import ImageError
from .job_queue import JobError, JobQueue, token_problem

log = logging.getLogger("ganc.gateway")


def build_backends(settings: Settings) -> dict[str, Backend]:
    backends: dict[str, Backend] = {}
    if settings.cpu_backend:
        backends["cpu"] = OnnxCpuBackend(settings.cpu_threads or os.cpu_count() or 1)
    if settings.triton_url:
        backends["triton"] = TritonBackend(
            settings.triton_url,
            settings.triton_concurrency,
            settings.triton_timeout_s,
            settings.triton_hardware,
            settings.triton_manage_models,
            settings.triton_control_key,
        )
    return backends


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop_metrics = None
        if settings.gateway_metrics_port:
            stop_metrics = metrics.serve(settings.metrics_host, settings.gateway_metrics_port)
        backends = build_backends(settings)
        estimates = LatencyEstimates()
        catalog = Catalog(settings.model_repository, backends, estimates, settings.warmup_runs, settings.warmup_size)
        await catalog.refresh()
        app.state.catalog = catalog
        app.state.gateway = Gateway(settings, catalog, backends, estimates)
        await app.state.gateway.check_backends()
        app.state.jobs = JobQueue(settings)
        if settings.api_token and (problem := token_problem(settings.api_token)):
            log.warning("the job endpoints are off: %s (openssl rand -hex 32 makes one)", problem)
        watcher = asyncio.create_task(catalog.watch(settings.catalog_poll_s))
        yield
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await app.state.gateway.close()
        app.state.jobs.close()
        for backend in backends.values():
            await backend.close()
        if stop_metrics:
            stop_metrics()

    app = FastAPI(
        title="ganc gateway",
        summary="Image-to-image translation with compressed GAN generators, routed by latency budget.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.include_router(translate.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(demo.router)
    app.mount("/demo/static", demo.static, name="demo-static")
    app.state.settings = settings

    def count_refusal(request: Request, status: int) -> None:
        family = request.path_params.get("family")
        if family is not None:  # a translation
            known = family in request.app.state.catalog.families
            metrics.REFUSED.labels(family if known else metrics.UNKNOWN_FAMILY, str(status)).inc()

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, error: GatewayError) -> JSONResponse:
        count_refusal(request, error.status)
        return JSONResponse({"error": str(error)}, status_code=error.status, headers=error.headers)

    @app.exception_handler(JobError)
    async def job_error(request: Request, error: JobError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)

    @app.exception_handler(ImageError)
    async def image_error(request: Request, error: ImageError) -> JSONResponse:
        count_refusal(request, error.status)
        return JSONResponse({"error": str(error)}, status_code=error.status)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        route = request.scope.get("route")
        metrics.UNEXPECTED.labels(getattr(route, "path", "(no route)")).inc()
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error ({type(error).__name__}); it was logged"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": problems, "detail": error.errors()}, status_code=422)

    return app
