"""The BentoML service: a thin lifecycle shell around the FastAPI app (`bentoml serve service.bento:GatewayService`).

BentoML answers /livez and /readyz itself, readiness delegated to the app's catalog; the app serves its metrics
on a port of its own (GANC_GATEWAY_METRICS_PORT).
"""

import bentoml

from ganc.settings import settings_or_exit

from .app import create_app

settings = settings_or_exit()
app = create_app(settings)


# BentoML's own request metrics are labelled by the raw URL path: every made-up path would add series (and files
# to the multiprocess folder) until the process restarts. ganc's own count every request, by family and route.
@bentoml.service(
    name="ganc-gateway", workers=settings.gateway_workers, traffic={"timeout": 60}, metrics={"enabled": False}
)
@bentoml.asgi_app(app, path="/")
class GatewayService:
    """Routes live in FastAPI (service/app.py); BentoML runs the workers and the HTTP server."""

    def __is_ready__(self) -> bool:
        catalog = getattr(app.state, "catalog", None)
        return catalog is not None and catalog.ready()
