"""Dependencies of the routes: the gateway and catalog that the app's lifespan built."""

from typing import Annotated

from fastapi import Depends, Request

from ..catalog import Catalog
from ..gateway import Gateway


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
