"""GET /demo: the interactive demo page (plain HTML, CSS and a small script under service/demo/)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

DEMO = Path(__file__).resolve().parents[2] / "demo"

router = APIRouter(tags=["demo"])
static = StaticFiles(directory=DEMO)


@router.get("/demo", include_in_schema=False)
async def demo_page() -> FileResponse:
    return FileResponse(DEMO / "index.html", media_type="text/html")
