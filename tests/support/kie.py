"""A real KIE Server for integration tests (one JVM per session, basic auth on), the Maven
repository it resolves kjars from, and ProcessEngines pointing at it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, Unpack

from pydantic import SecretStr

from deployunits.content.maven import MavenCoordinates
from deployunits.engines import BasicAuth, KieServerClient, KieServerConnection
from devcluster import engine
from devcluster.kjars import build_kjar, jbpm_waiting_bpmn
from tests.support.cluster import Cluster
from tests.support.engine import EngineSpec, credentials_secret, process_engine
from tests.support.maven_repo import MavenRepo

T = TypeVar("T")


@dataclass(frozen=True)
class RunningKieServer:
    """The server process, the credentials its basic auth accepts, and its Maven repository
    (the one the operator and the shim are given too)."""

    process: engine.KieServerProcess
    credentials: engine.BasicCredentials
    repo: MavenRepo

    @property
    def url(self) -> str:
        return self.process.url

    def connection(self) -> KieServerConnection:
        return KieServerConnection(
            url=self.url,
            credentials=BasicAuth(
                username=self.credentials.username,
                password=SecretStr(self.credentials.password),
            ),
        )

    def call(self, action: Callable[[KieServerClient], Awaitable[T]]) -> T:
        """Run one action with a fresh client (each test owns its event loop)."""

        async def run() -> T:
            async with KieServerClient(self.connection()) as client:
                return await action(client)

        return asyncio.run(run())

    def publish(
        self, deployment_id: str, variables: dict[str, str] | None = None, *keys: str
    ) -> list[str]:
        """A kjar of waiting processes (`keys`, else one named after the artifact) published
        to the server's repository; the process ids."""
        group, artifact, version = deployment_id.split(":")[:3]
        processes = list(keys) or [f"{artifact.replace('-', '_')}_process"]
        jar = build_kjar(
            {f"org/acme/{key}.bpmn2": jbpm_waiting_bpmn(key, variables) for key in processes},
            group_id=group,
            artifact_id=artifact,
            version=version,
        )
        self.repo.publish(MavenCoordinates(group, artifact, version), jar)
        return processes


@contextmanager
def kie_server(workdir: Path) -> Iterator[RunningKieServer]:
    """Build the server if needed, serve a Maven repository, start the server on a free
    loopback port resolving kjars from it, and stop both afterwards."""
    # A fresh password per run: tests check that it never shows in messages.
    credentials = engine.BasicCredentials("deployunits", secrets.token_urlsafe(18))
    repo = MavenRepo(workdir / "maven-repo")
    process = engine.KieServerProcess(
        engine.ensure_built(engine.KIE_MODULE),
        workdir / "kie-server.log",
        credentials=credentials,
        repository_url=repo.url,
    )
    try:
        with process:
            yield RunningKieServer(process, credentials, repo)
    finally:
        repo.stop()


def add_kie_engine(
    cluster: Cluster,
    namespace: str,
    server: RunningKieServer,
    *,
    name: str = "kie",
    **spec: Unpack[EngineSpec],
) -> None:
    """A Secret with the server's credentials and a ProcessEngine with spec.kieServer, its
    namespace's default engine unless `default=False`."""
    credentials_secret(cluster, namespace, f"{name}-auth", server.credentials)
    settings: EngineSpec = {"default": True, **spec}
    cluster.apply_objects(namespace, process_engine("kieServer", server.url, name, **settings))


def instance_state(server: RunningKieServer, instance: int) -> int:
    """A process instance's state (1 active, 2 completed, 3 aborted), from the query API."""

    async def state(client: KieServerClient) -> int:
        found = await client.instance_state(instance)
        assert found is not None, f"instance {instance} has no state"
        return found

    return server.call(state)
