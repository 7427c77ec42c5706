"""Liveness and readiness (metrics have a port of their own: service/metrics.py)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

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
