"""A real Camunda 7 engine for integration tests (one JVM per session, basic auth on), and
ProcessEngines and bound units pointing at it."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

import yaml
from pydantic import SecretStr

from deployunits.engines import BasicAuth, Camunda7Client, Camunda7Connection
from devcluster import engine
from tests.support.cluster import Cluster
from tests.support.units import API_VERSION, deployment_unit

T = TypeVar("T")


@dataclass(frozen=True)
class RunningEngine:
    """The engine process and the credentials its basic auth accepts."""

    process: engine.Camunda7Process
    credentials: engine.BasicCredentials

    @property
    def url(self) -> str:
        return self.process.url

    def connection(self, **changes: Any) -> Camunda7Connection:
        """How the engines gateway reaches this engine (its admin user), with changes."""
        settings: dict[str, Any] = {
            "url": self.url,
            "credentials": BasicAuth(
                username=self.credentials.username,
                password=SecretStr(self.credentials.password),
            ),
            **changes,
        }
        return Camunda7Connection(**settings)


@contextmanager
def camunda7_engine(workdir: Path, *, persistent: bool = False) -> Iterator[RunningEngine]:
    """Build the engine if needed, start it on a free loopback port, stop it afterwards;
    `persistent`: its database is a file in `workdir`, kept across a stop and start."""
    # A fresh password per run: tests check that it never shows in messages. (User ids must be
    # plain letters and digits: the engine refuses others at start.)
    credentials = engine.BasicCredentials("deployunits", secrets.token_urlsafe(18))
    process = engine.Camunda7Process(
        engine.ensure_built(),
        workdir / "camunda7.log",
        credentials=credentials,
        database=workdir / "camunda7-db" if persistent else None,
    )
    with process:
        yield RunningEngine(process, credentials)


def user_task_process(key: str) -> bytes:
    """A process that waits in a user task, so that its instances keep running."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d-{key}"
             targetNamespace="http://deployunits.io/test">
  <process id="{key}" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="toWait" sourceRef="start" targetRef="wait"/>
    <userTask id="wait" name="Wait"/>
    <sequenceFlow id="toEnd" sourceRef="wait" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>
""".encode()


def call(connection: Camunda7Connection, action: Callable[[Camunda7Client], Awaitable[T]]) -> T:
    """Run one action with a fresh client (each test owns its event loop)."""

    async def run() -> T:
        async with Camunda7Client(connection) as client:
            return await action(client)

    return asyncio.run(run())


def credentials_secret(
    cluster: Cluster,
    namespace: str,
    name: str,
    credentials: engine.BasicCredentials,
    password: str | None = None,
) -> None:
    """The Secret `name` (an engine's `authSecretRef`) with these credentials (or a wrong
    password)."""
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        name,
        "-n",
        namespace,
        f"--from-literal=username={credentials.username}",
        f"--from-literal=password={password if password is not None else credentials.password}",
    )


def engine_auth_secret(cluster: Cluster, namespace: str, camunda7: RunningEngine) -> None:
    """The Secret `camunda-auth` with the engine's credentials (`add_engine` without the
    ProcessEngine)."""
    credentials_secret(cluster, namespace, "camunda-auth", camunda7.credentials)


class EngineSpec(TypedDict, total=False):
    """What tests vary in a ProcessEngine besides its name: whether it is its namespace's
    default engine (the annotation), `resyncSeconds` and `deletePolicy`."""

    default: bool
    resync: int
    policy: str


def process_engine(flavour: str, url: str, name: str, **spec: Unpack[EngineSpec]) -> dict[str, Any]:
    """A ProcessEngine of that flavour (`camunda7`, `kieServer`) at `url`, its credentials in
    the Secret `{name}-auth`; not a default engine, resync 60 s, `KeepInstances` unless `spec`
    says otherwise."""
    metadata: dict[str, Any] = {"name": name}
    if spec.get("default", False):
        metadata["annotations"] = {"bpm.deployunits.io/default-engine": "true"}
    return {
        "apiVersion": API_VERSION,
        "kind": "ProcessEngine",
        "metadata": metadata,
        "spec": {
            flavour: {"url": url, "authSecretRef": {"name": f"{name}-auth"}},
            "deletePolicy": spec.get("policy", "KeepInstances"),
            "resyncSeconds": spec.get("resync", 60),
        },
    }


def engine_manifest(
    camunda7: RunningEngine, *, name: str = "camunda", **spec: Unpack[EngineSpec]
) -> str:
    """A ProcessEngine for the test engine, its credentials in the Secret `{name}-auth`, as
    YAML."""
    return yaml.safe_dump(process_engine("camunda7", camunda7.url, name, **spec), sort_keys=False)


def add_engine(
    cluster: Cluster,
    namespace: str,
    camunda7: RunningEngine,
    *,
    name: str = "camunda",
    password: str | None = None,
    **spec: Unpack[EngineSpec],
) -> None:
    """A Secret with the engine's credentials (or a wrong password) and a ProcessEngine."""
    credentials_secret(cluster, namespace, f"{name}-auth", camunda7.credentials, password)
    cluster.apply(engine_manifest(camunda7, name=name, **spec), namespace)


def patch_engine(cluster: Cluster, namespace: str, spec: dict[str, Any]) -> None:
    """Merge `spec` into the spec of ProcessEngine `camunda` (the one `add_engine` applies)."""
    patch = json.dumps({"spec": spec})
    cluster.kubectl("patch", "pe", "camunda", "-n", namespace, "--type=merge", "-p", patch)


class Binding(TypedDict, total=False):
    """How a test unit is bound: `engine`, its ProcessEngine (`camunda` unless given; None:
    stored only), and the unit's `annotations`."""

    engine: str | None
    annotations: dict[str, str]


def bound_unit(
    namespace: str, name: str, resources: dict[str, bytes], **binding: Unpack[Binding]
) -> dict[str, Any]:
    """An inline unit named `name`, deployed as `{namespace}-{name}`, bound to `engine`."""
    engine = binding.get("engine", "camunda")
    unit = deployment_unit(
        name,
        deployment_id=f"{namespace}-{name}",
        name=f"{namespace}-{name}",
        inline={key: content.decode() for key, content in resources.items()},
        **({"engineRef": {"name": engine}} if engine else {}),
    )
    if binding.get("annotations"):
        unit["metadata"]["annotations"] = dict(binding.get("annotations", {}))
    return unit


def add_unit(
    cluster: Cluster,
    namespace: str,
    name: str,
    resources: dict[str, bytes],
    **binding: Unpack[Binding],
) -> None:
    """Apply `bound_unit`."""
    cluster.apply_objects(namespace, bound_unit(namespace, name, resources, **binding))
