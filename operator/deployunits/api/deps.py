"""The shim's shared services and their FastAPI dependencies, as Annotated aliases.

Both dialects take what they need through these. The dependencies are coroutines: FastAPI runs
plain functions in a thread pool, which costs more than most requests do.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from deployunits.api.auth import Access, Authorizer, Decision, credentials_from
from deployunits.api.bindings import EngineBindings
from deployunits.api.cache import RedeployCache, UnitCache
from deployunits.api.camunda.bound import BoundIndex
from deployunits.api.content import ContentStore
from deployunits.api.errors import Refused
from deployunits.api.named_engines import NamedEngines
from deployunits.api.units import UnitWriter
from deployunits.k8s.gateway import ApiServer
from deployunits.settings import ShimSettings


@dataclass
class Services:
    """Everything a request may need; built once in the application's lifespan."""

    settings: ShimSettings
    kube: ApiServer
    units: UnitCache
    redeploys: RedeployCache
    writer: UnitWriter
    content: ContentStore
    authorizer: Authorizer
    #: The Camunda dialect's named engines (namespaces).
    named_engines: NamedEngines
    #: The namespaces bound to a ProcessEngine, and forwarders to those engines.
    bindings: EngineBindings
    #: The units synced to each engine, under the engine's deployment ids.
    bound: BoundIndex


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_settings(request: Request) -> ShimSettings:
    settings: ShimSettings = request.app.state.settings
    return settings


async def get_units(services: Annotated[Services, Depends(get_services)]) -> UnitCache:
    return services.units


async def get_authorizer(services: Annotated[Services, Depends(get_services)]) -> Authorizer:
    return services.authorizer


async def get_named_engines(services: Annotated[Services, Depends(get_services)]) -> NamedEngines:
    return services.named_engines


ServicesDep = Annotated[Services, Depends(get_services)]
NamedEnginesDep = Annotated[NamedEngines, Depends(get_named_engines)]
SettingsDep = Annotated[ShimSettings, Depends(get_settings)]
UnitsDep = Annotated[UnitCache, Depends(get_units)]
AuthorizerDep = Annotated[Authorizer, Depends(get_authorizer)]


async def authorize(request: Request, authorizer: Authorizer, access: Access) -> Decision:
    """The caller's decision for `access`; `Refused` (401 or 403 in the dialect) unless allowed."""
    credentials = credentials_from(request.headers.get("authorization"))
    decision = await authorizer.decide(credentials, access)
    if not decision.allowed:
        raise Refused(decision)
    return decision
