"""How to reach one Camunda 7 engine: base URL, named engine, credentials, TLS, timeouts."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Literal, Self

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from yarl import URL

from deployunits.models.processengine import Camunda7, KieServer

__all__ = [
    "BasicAuth",
    "BearerToken",
    "Camunda7Connection",
    "Credentials",
    "EngineSettingsError",
    "KieServerConnection",
    "connection_for",
    "credentials_from_secret",
    "kie_connection_for",
]


class BasicAuth(BaseModel):
    """HTTP basic credentials (a Secret's `username` and `password`)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["basic"] = "basic"
    username: str = Field(min_length=1)
    password: SecretStr

    def header(self) -> str:
        return aiohttp.BasicAuth(self.username, self.password.get_secret_value()).encode()


class BearerToken(BaseModel):
    """A bearer token (a Secret's `token`)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["bearer"] = "bearer"
    token: SecretStr

    def header(self) -> str:
        return f"Bearer {self.token.get_secret_value()}"


Credentials = BasicAuth | BearerToken


class Camunda7Connection(BaseModel):
    """Everything the client needs to call one engine; secrets print as '**********'."""

    # A refused URL may hold credentials: validation errors must not repeat it.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    #: The REST API's base, for example http://camunda:8080/engine-rest.
    url: str = Field(min_length=1, max_length=2048)
    #: A named engine (`/engine/{name}/...`); the process application's default engine if None.
    engine_name: str | None = Field(default=None, min_length=1, max_length=255)
    credentials: Credentials | None = Field(default=None, discriminator="kind")
    #: PEM certificates to trust for https instead of the system's CA bundle.
    ca_bundle: str | None = Field(default=None, repr=False)
    connect_timeout: float = Field(default=5.0, gt=0)
    #: The longest one call may take, answer included (a large deployment is parsed in it).
    request_timeout: float = Field(default=60.0, gt=0)
    #: The most bytes of one resource's data the client reads.
    max_resource_bytes: int = Field(default=64 * 1024 * 1024, gt=0)

    @field_validator("url")
    @classmethod
    def _plain_http_url(cls, value: str) -> str:
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("the engine URL must be an http:// or https:// URL with a host")
        if url.user is not None or url.password is not None:
            # Credentials come from a Secret; in a URL they would end up in status and logs.
            raise ValueError("the engine URL must not carry credentials; use a Secret")
        if url.query_string or url.fragment:
            raise ValueError("the engine URL must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("engine_name")
    @classmethod
    def _path_segment(cls, value: str | None) -> str | None:
        if value is not None and ("/" in value or value in (".", "..")):
            raise ValueError("the engine name must be one path segment")
        return value

    def base(self) -> URL:
        """The URL that every call's path is appended to."""
        base = URL(self.url)
        return base / "engine" / self.engine_name if self.engine_name else base

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS settings for https: the given CA bundle, else the system's (True)."""
        if self.ca_bundle is None:
            return True
        return ssl.create_default_context(cadata=self.ca_bundle)


class KieServerConnection(Camunda7Connection):
    """How to reach one KIE Server: its `/rest/server` base, credentials, TLS, timeouts."""

    # A container's creation resolves the kjar from Maven and compiles its kbase: minutes for
    # a large one on a busy server.
    request_timeout: float = 300.0


class EngineSettingsError(ValueError):
    """A ProcessEngine's settings, or its Secret, cannot make a connection (never shows values)."""


def credentials_from_secret(name: str, data: Mapping[str, bytes]) -> Credentials:
    """Basic credentials from `username` and `password`, or a bearer token from `token`."""
    keys = {key for key, value in data.items() if value}
    basic, bearer = {"username", "password"} & keys, "token" in keys
    if basic and bearer:
        raise EngineSettingsError(
            f"Secret {name} holds both username/password and token; keep one kind"
        )
    try:
        if bearer:
            return BearerToken(token=SecretStr(data["token"].decode().strip()))
        if basic == {"username", "password"}:
            return BasicAuth(
                username=data["username"].decode().strip(),
                password=SecretStr(data["password"].decode()),
            )
    except UnicodeDecodeError:
        raise EngineSettingsError(f"Secret {name}: its values must be UTF-8 text") from None
    missing = sorted({"username", "password"} - basic) if basic else ["username", "password"]
    raise EngineSettingsError(
        f"Secret {name} lacks {' and '.join(missing)} (or a token for bearer authentication)"
    )


def connection_for(
    spec: Camunda7, credentials: Credentials | None = None, ca_bundle: str | None = None
) -> Camunda7Connection:
    """How to reach the engine a ProcessEngine's spec.camunda7 describes."""
    try:
        return Camunda7Connection(
            url=spec.url,
            engine_name=spec.engine_name,
            credentials=credentials,
            ca_bundle=ca_bundle,
        )
    except ValidationError as error:
        reasons = "; ".join(str(e["msg"]) for e in error.errors())
        raise EngineSettingsError(f"spec.camunda7: {reasons}") from None


def kie_connection_for(
    spec: KieServer, credentials: Credentials | None = None, ca_bundle: str | None = None
) -> KieServerConnection:
    """How to reach the KIE Server a ProcessEngine's spec.kieServer describes."""
    try:
        return KieServerConnection(url=spec.url, credentials=credentials, ca_bundle=ca_bundle)
    except ValidationError as error:
        reasons = "; ".join(str(e["msg"]) for e in error.errors())
        raise EngineSettingsError(f"spec.kieServer: {reasons}") from None


class ClosingClient:
    """An engine client used as `async with`: its HTTP session closes on leaving the block."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        raise NotImplementedError
