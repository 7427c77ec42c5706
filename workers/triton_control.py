"""Triton's model-repository API over plain HTTP (stdlib only): what workers use after publishing."""

import contextlib
import json
import urllib.error
import urllib.request

from ganc.settings import TRITON_CONTROL_HEADER


class TritonControlError(RuntimeError):
    """Triton could not be reached or refused the request (transient: the caller may retry)."""


def load_model(url: str, model: str, key: str | None = None, timeout_s: float = 60.0) -> None:
    """Ask a Triton in explicit model-control mode to (re)load `model`, picking up its newest version; `key`: what a
    Triton whose repository API is restricted asks for (GANC_TRITON_CONTROL_KEY)."""
    request = urllib.request.Request(
        f"http://{url}/v2/repository/models/{model}/load",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json", **({TRITON_CONTROL_HEADER: key} if key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("error", detail)
        raise TritonControlError(f"Triton refused to load {model}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise TritonControlError(f"Triton at {url} is unreachable: {error}") from None
