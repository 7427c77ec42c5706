"""POST /v1/translate/{family}: an image in, the translated image out, with what served it."""

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from ...gateway import GatewayError
from ..deps import GatewayDep

router = APIRouter(tags=["translate"])

RAW_TYPES = {"image/png", "image/jpeg", "image/webp"}


async def read_image(request: Request, limit: int) -> bytes:
    """The image from the raw body or the multipart field `image`, refusing bodies over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise GatewayError(413, f"the body is {declared} bytes, more than {limit}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=8, max_part_size=limit)
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise GatewayError(400, "the multipart body has no file field named `image`")
        data = await upload.read(limit + 1)
    elif content_type in RAW_TYPES:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise GatewayError(413, f"the body is more than {limit} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
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
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
async def translate_image(
    family: str,
    request: Request,
    gateway: GatewayDep,
    budget_ms: Annotated[float | None, Query(gt=0, description="latency budget in milliseconds")] = None,
    x_latency_budget_ms: Annotated[float | None, Header(gt=0)] = None,
    variant: Annotated[str | None, Query(description="pin one variant")] = None,
    format: Annotated[Literal["png", "jpeg", "webp"], Query(description="output image format")] = "png",
) -> Response:
    """Translate an image with the best variant that fits the latency budget."""
    data = await read_image(request, gateway.settings.max_body_bytes)
    budget = budget_ms if budget_ms is not None else x_latency_budget_ms
    result = await gateway.translate(family, data, budget, variant, format)
    return Response(result.body, media_type=result.media_type, headers=result.headers)
