"""Liveness, readiness and metrics."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ... import metrics
from ..deps import CatalogDep

router = APIRouter(tags=["health"])


@router.get("/livez")
async def get_livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz", responses={503: {"description": "no family has a loaded variant yet"}})
async def get_readyz(catalog: CatalogDep) -> JSONResponse:
    """Ready once every family has a variant loaded on some backend."""
    if catalog.ready():
        return JSONResponse({"status": "ready", "families": sorted(catalog.families)})
    return JSONResponse({"status": "not ready", "detail": "no family has a loaded variant yet"}, status_code=503)


@router.get("/metrics", responses={200: {"content": {"text/plain": {}}, "description": "Prometheus' text format"}})
async def get_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
