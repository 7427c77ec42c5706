"""The BentoML service: a thin lifecycle shell around the FastAPI app (`bentoml serve service.bento:Gateway`)."""

import bentoml

from .app import create_app

app = create_app()


@bentoml.service(name="ganc-gateway", traffic={"timeout": 60})
@bentoml.asgi_app(app, path="/")
class Gateway:
    """Routes live in FastAPI (service/app.py); BentoML runs the workers and the HTTP server."""
