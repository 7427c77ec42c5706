"""POST /v1/translate/{family}: an image in, the translated image out, with what served it."""

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from starlette.formparsers import MultiPartException, MultiPartParser

from ...gateway import GatewayError
from ..deps import GatewayDep
from ..errors import error_responses

router = APIRouter(tags=["translate"])

RAW_TYPES = {"image/png", "image/jpeg", "image/webp"}
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and small fields around the image
BINARY = {"type": "string", "format": "binary"}
IMAGE_BODY = {
    "required": True,
    "content": {
        **{media_type: {"schema": BINARY} for media_type in sorted(RAW_TYPES)},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"image": BINARY}, "required": ["image"]},
        },
    },
}


async def capped(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, refused with 413 as soon as it passes `limit` bytes (never read whole first)."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, f"the body is more than {limit} bytes")
        yield chunk


async def read_image(request: Request, limit: int) -> bytes:
    """The image from the raw body or the multipart field `image`, refusing bodies over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise GatewayError(413, f"the body is {declared} bytes, more than {limit}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith("multipart/form-data"):
        parser = MultiPartParser(
            request.headers, capped(request, limit + MULTIPART_OVERHEAD), max_files=1, max_fields=8, max_part_size=limit
        )
        try:
            form = await parser.parse()
        except MultiPartException as error:
            raise GatewayError(400, f"the multipart body cannot be read: {error.message}") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise GatewayError(400, "the multipart body has no file field named `image`")
        data = await upload.read(limit + 1)
    elif content_type in RAW_TYPES:
        data = b"".join([chunk async for chunk in capped(request, limit)])
    else:
        raise GatewayError(
            415, f"content type {content_type or '(none)'!r}: send image/png, image/jpeg, image/webp or multipart"
        )
    if len(data) > limit:
        raise GatewayError(413, f"the image is more than {limit} bytes")
    return data


@router.post(
    "/v1/translate/{family}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}, "description": "the translation"},
        **error_responses(400, 404, 413, 415, 422, 429, 503),
    },
    openapi_extra={"requestBody": IMAGE_BODY},
)
async def translate_image(
    family: str,
    request: Request,
    gateway: GatewayDep,
    # Typed without None, so that the document says what a client may send: a positive number, or nothing.
    budget_ms: Annotated[float, Query(gt=0, description="latency budget in milliseconds")] = None,  # noqa: RUF013
    x_latency_budget_ms: Annotated[float, Header(gt=0, description="latency budget in milliseconds")] = None,  # noqa: RUF013
    variant: Annotated[str | None, Query(description="pin one variant")] = None,
    format: Annotated[Literal["png", "jpeg", "webp"], Query(description="output image format")] = "png",
) -> Response:
    """Translate an image with the best variant that fits the latency budget."""
    budget = budget_ms if budget_ms is not None else x_latency_budget_ms
    with gateway.admitted(family):
        data = await read_image(request, gateway.settings.max_body_bytes)
        result = await gateway.translate(family, data, budget, variant, format)
    return Response(result.body, media_type=result.media_type, headers=result.headers)
