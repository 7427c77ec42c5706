"""How refusals look in the OpenAPI document: every 4xx and 5xx is a JSON body `{"error": "..."}`."""

from typing import Any

from pydantic import BaseModel

WHY = {
    400: "the request cannot be read",
    401: "no valid bearer token, or the job endpoints are off",
    404: "no such family, variant or job",
    409: "the job has ended",
    413: "the body, the image or its predicted latency is past a limit",
    415: "not an image type the gateway reads",
    422: "a field or the image is invalid",
    429: "too many requests in flight",
    503: "no backend or broker can take it now",
}


class ErrorBody(BaseModel):
    error: str


class ValidationErrorBody(ErrorBody):
    detail: list[dict[str, Any]] | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route that refuses with these statuses."""
    return {
        status: {"model": ValidationErrorBody if status == 422 else ErrorBody, "description": WHY[status]}
        for status in statuses
    }
