"""GET /v1/models: every family and variant, its card summary, where it is loaded and how fast it runs."""

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import CatalogDep, GatewayDep

router = APIRouter(tags=["models"])


class BackendSummary(BaseModel):
    backend: str
    hardware: str
    healthy: bool
    p50_ms: float | None = None
    p95_ms: float | None = None


class VariantSummary(BaseModel):
    variant: str
    model: str
    version: int
    task: str
    config: str | None
    macs: int
    macs_real: int
    params: int
    quality: dict[str, float]
    size_multiple: int
    backends: list[BackendSummary]


class FamilySummary(BaseModel):
    family: str
    variants: list[VariantSummary]


class ModelsResponse(BaseModel):
    families: list[FamilySummary]
    problems: list[str]


@router.get("/v1/models", response_model=ModelsResponse)
async def list_models(catalog: CatalogDep, gateway: GatewayDep) -> ModelsResponse:
    families = []
    for family, variants in sorted(catalog.families.items()):
        summaries = []
        for name, v in sorted(variants.items(), key=lambda item: -item[1].card.macs):
            backends = [
                BackendSummary(
                    backend=b,
                    hardware=gateway.backends[b].hardware,
                    healthy=gateway.health[b].healthy,
                    **gateway.estimates.percentiles(v.model, b),
                )
                for b in sorted(v.backends)
            ]
            c = v.card
            summaries.append(
                VariantSummary(
                    variant=name,
                    model=v.model,
                    version=v.version,
                    task=c.task,
                    config=c.config,
                    macs=c.macs,
                    macs_real=c.macs_real,
                    params=c.params,
                    quality=c.quality,
                    size_multiple=c.size_multiple,
                    backends=backends,
                )
            )
        families.append(FamilySummary(family=family, variants=summaries))
    # This route needs no token: what failed and where, never why (paths, the runtime's words: the log has them).
    problems = [p.public for p in (*catalog.index_problems, *catalog.problems.values())]
    return ModelsResponse(families=families, problems=problems)
