"""The shim's shared services and their FastAPI dependencies, as Annotated aliases."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from deployunits.api.auth import Authorizer
from deployunits.api.cache import RedeployCache, UnitCache
from deployunits.api.content import ContentStore
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


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> ShimSettings:
    settings: ShimSettings = request.app.state.settings
    return settings


def get_units(services: Annotated[Services, Depends(get_services)]) -> UnitCache:
    return services.units


def get_authorizer(services: Annotated[Services, Depends(get_services)]) -> Authorizer:
    return services.authorizer


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[ShimSettings, Depends(get_settings)]
UnitsDep = Annotated[UnitCache, Depends(get_units)]
AuthorizerDep = Annotated[Authorizer, Depends(get_authorizer)]
