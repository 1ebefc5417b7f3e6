"""The Camunda semantics of each /deployment operation over the cache and the unit writer."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from deployunits import constants
from deployunits.api.bindings import EngineBindings, EngineNotBound
from deployunits.api.cache import CachedUnit, UnitCache, UnitReads
from deployunits.api.camunda import wire
from deployunits.api.camunda.bound import BoundUnits
from deployunits.api.camunda.errors import (
    CamundaError,
    engine_error,
    engine_refusal,
    internal,
    invalid_request,
    parse_exception,
    problems,
    refused_content,
    unavailable,
)
from deployunits.api.camunda.multipart import CreateForm
from deployunits.api.content import ContentStore
from deployunits.api.units import (
    NamespaceMissing,
    Rejected,
    UnitWriter,
    WriteError,
    WriteTimedOut,
)
from deployunits.content.definitions import definitions_of, model_kind_of
from deployunits.content.validation import Rules, validate_model
from deployunits.content.xmlsafe import ContentError, parse_xml_document
from deployunits.engines import EngineError
from deployunits.models.conditions import ConditionType, find
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    EngineRef,
    ResourceSources,
)
from deployunits.models.processengine import DeletePolicy
from deployunits.reconcile.engine import SyncReason, describe_problems

NO_ENGINE = "No process engine available"


@dataclass(frozen=True)
class RedeployRequest:
    """The optional JSON body of a redeploy (None fields when absent)."""

    resource_ids: tuple[str, ...]
    resource_names: tuple[str, ...]
    source: str | None


@contextmanager
def write_errors() -> Iterator[None]:
    """Turn the writer's failures into Camunda errors."""
    try:
        yield
    except NamespaceMissing:
        raise invalid_request(400, NO_ENGINE) from None
    except Rejected as error:
        raise invalid_request(400, f"The deployment was refused: {error}") from None
    except WriteTimedOut as error:
        raise unavailable(str(error)) from None
    except WriteError as error:
        raise internal(str(error)) from None


def parse_problems(message: str) -> dict[str, Any]:
    """ParseExceptionDto details (as JSON) from the operator's message."""
    return {name: report.dump() for name, report in problems(message).items()}


def failure(unit: CachedUnit) -> CamundaError:
    """The engine's answer to a deployment the operator, or the bound engine, refused."""
    stalled = find(unit.status.conditions, ConditionType.STALLED)
    sync = unit.status.engine
    if stalled is not None and stalled.reason == SyncReason.ENGINE_REFUSED and sync is not None:
        # The bound engine's own answer, as the unit recorded it: its words, then the problems.
        said = stalled.message.removesuffix("\n" + describe_problems(sync.problems))
        refusal = engine_refusal(said, sync.problems)
        if refusal is not None:
            return refusal
    message = (
        stalled.message
        if stalled is not None and stalled.message
        else (unit.status.job.explanation if unit.status.job else None) or "deployment failed"
    )
    details = problems(message)
    if details:
        return parse_exception(details)
    return engine_error(400, "NotValidException", message)


def check_content(resources: tuple[tuple[str, bytes], ...]) -> None:
    """Refuse, before anything is stored, a model resource the engine would not parse: broken
    XML, a schema violation, a dangling reference, a definition without a usable key. The
    operator checks again (its verdict is the one kubectl sees); this one answers the caller
    with every problem's element ids, which the operator's message does not carry."""
    for name, content in resources:
        kind = model_kind_of(name)
        if kind is None:
            continue
        try:
            document = parse_xml_document(content, name)
            validate_model(document, kind, Rules.CAMUNDA)
            definitions_of(document, kind)
        except ContentError as error:
            raise refused_content(error) from None


class CamundaDeployments:
    """GET, create, redeploy and delete of deployments in one namespace's engine.

    With `bound` (an engine-bound namespace) units go to that ProcessEngine, and reads and
    answers show them under the engine's ids.
    """

    def __init__(
        self,
        cache: UnitCache,
        writer: UnitWriter,
        content: ContentStore,
        bound: BoundUnits | None = None,
        engines: EngineBindings | None = None,
    ) -> None:
        self.cache = cache
        self.units: UnitReads = bound or cache
        self.bound = bound
        self.engines = engines
        self.writer = writer
        self.content = content

    def shown(self, unit: CachedUnit) -> CachedUnit:
        """The unit as this engine shows it (under the bound engine's deployment id)."""
        if self.bound is None:
            return unit
        found = self.bound.present(unit)
        if found is None:
            raise internal(f"deployment '{unit.deployment_id}' is not in the engine")
        return found

    def find(self, namespace: str, deployment_id: str, message: str) -> CachedUnit:
        unit = self.units.deployment(namespace, deployment_id)
        if unit is None:
            raise invalid_request(404, message)
        return unit

    def get(self, namespace: str, deployment_id: str) -> CachedUnit:
        return self.find(
            namespace, deployment_id, f"Deployment with id '{deployment_id}' does not exist"
        )

    def resources_of(self, namespace: str, deployment_id: str) -> CachedUnit:
        unit = self.units.deployment(namespace, deployment_id)
        if unit is None or not unit.status.resources:
            raise invalid_request(
                404, f"Deployment resources for deployment id '{deployment_id}' do not exist."
            )
        return unit

    def resource(self, namespace: str, deployment_id: str, resource_id: str) -> dict[str, Any]:
        unit = self.resources_of(namespace, deployment_id)
        for item in wire.resource_dtos(unit):
            if item["id"] == resource_id:
                return item
        raise invalid_request(
            404,
            f"Deployment resource with resource id '{resource_id}' for deployment id "
            f"'{deployment_id}' does not exist.",
        )

    async def data(
        self, namespace: str, deployment_id: str, resource_id: str
    ) -> tuple[bytes, str, str]:
        """Content, media type and Content-Disposition of one resource."""
        missing = invalid_request(
            404,
            f"Deployment resource '{resource_id}' for deployment id '{deployment_id}' "
            "does not exist.",
        )
        unit = self.units.deployment(namespace, deployment_id)
        if unit is None:
            raise missing
        stored = next((r for r in unit.status.resources if r.id == resource_id), None)
        if stored is None:
            raise missing
        content = await self.content.read(namespace, stored)
        if content is None:
            raise missing
        return content, wire.media_type(stored.name), wire.content_disposition(stored.name)

    async def create(self, namespace: str, form: CreateForm, base_url: str) -> dict[str, Any]:
        if self.bound is None:
            # A bound unit's engine is the authority on its content (the operator leaves the
            # check to it too): its refusal comes back as its own answer.
            check_content(form.resources)
        with write_errors():
            stored = await self.writer.store_snapshots(namespace, form.resources)
            spec = DeploymentUnitSpec.unchecked(
                deployment_id=str(uuid.uuid4()),
                resources=ResourceSources.unchecked(snapshots=stored.refs),
                enable_duplicate_filtering=form.enable_duplicate_filtering,
                deploy_changed_only=form.deploy_changed_only,
                name=form.name,
                source=form.source,
                tenant_id=form.tenant_id,
                engine_ref=EngineRef(name=self.bound.engine) if self.bound is not None else None,
            )
            annotations = (
                {constants.ACTIVATION_TIME_ANNOTATION: form.activation_time}
                if form.activation_time
                else None
            )
            unit = await self.writer.create_unit(
                namespace, spec, annotations=annotations, snapshots_created=stored.created
            )
            if unit.status.status is DeploymentStatus.DEPLOY_FAILED:
                await self.writer.discard(unit, stored.created)
                raise failure(unit)
            if unit.status.duplicate_of is not None:
                earlier = self._latest_named(namespace, unit)
                await self.writer.discard(unit, stored.created)
                return wire.deployment_with_definitions(
                    earlier, wire.self_link(base_url, earlier.deployment_id), with_definitions=False
                )
        shown = self.shown(unit)
        return wire.deployment_with_definitions(
            shown, wire.self_link(base_url, shown.deployment_id)
        )

    def _latest_named(self, namespace: str, unit: CachedUnit) -> CachedUnit:
        """The engine answers a filtered duplicate with the latest deployment of that name."""
        name = unit.spec.name
        candidates = [
            u for u in self.units.deployments(namespace) if name is not None and u.spec.name == name
        ]
        if candidates:
            return max(
                candidates,
                key=lambda u: (
                    u.status.deployment_time.timestamp() if u.status.deployment_time else 0.0
                ),
            )
        earlier = self.units.deployment(namespace, unit.status.duplicate_of or "")
        if earlier is None:
            raise internal(
                f"deployment '{unit.status.duplicate_of}' that this upload duplicates is gone"
            )
        return earlier

    async def redeploy(
        self,
        namespace: str,
        deployment_id: str,
        request: RedeployRequest | None,
        base_url: str,
    ) -> dict[str, Any]:
        unit = self.get(namespace, deployment_id)
        ids = request.resource_ids if request else ()
        names = request.resource_names if request else ()
        # The engine checks ids first, then names; the operator checks again.
        for values, known, what in (
            (ids, {r.id for r in unit.status.resources}, "id"),
            (names, {r.name for r in unit.status.resources}, "name"),
        ):
            missing = list(dict.fromkeys(v for v in values if v not in known))
            if missing:
                # The engine's own check (code 0), which its REST layer types as invalid.
                raise engine_error(
                    404,
                    "InvalidRequestException",
                    f"Cannot redeploy deployment '{deployment_id}': The deployment with id "
                    f"'{deployment_id}' does not contain the following resources with {what}: "
                    + ", ".join(missing),
                )
        with write_errors():
            # The Redeploy names the unit's own id (under a bound engine the caller may use the
            # engine's).
            own = self.cache.get(namespace, unit.name)
            result = await self.writer.redeploy(
                namespace,
                own.deployment_id if own is not None else deployment_id,
                resource_ids=list(dict.fromkeys(ids)),
                resource_names=list(dict.fromkeys(names)),
                source=request.source if request else None,
            )
            succeeded = find(result.status.conditions, ConditionType.SUCCEEDED)
            if (
                succeeded is not None
                and succeeded.status == "True"
                and result.status.new_deployment_id
            ):
                new = await self.writer.wait_deployed(
                    namespace, result.status.new_deployment_id, result.status.new_unit_name
                )
                if new.status.status is DeploymentStatus.DEPLOY_FAILED:
                    raise failure(new)
                shown = self.shown(new)
                return wire.deployment_with_definitions(
                    shown, wire.self_link(base_url, shown.deployment_id)
                )
        stalled = find(result.status.conditions, ConditionType.STALLED)
        reason = stalled.reason if stalled is not None else ""
        message = stalled.message if stalled is not None else "the redeploy failed"
        if reason == "NotFound":
            if message.startswith("Deployment with id "):
                raise invalid_request(404, message)
            raise engine_error(
                404,
                "InvalidRequestException",
                f"Cannot redeploy deployment '{deployment_id}': {message}",
            )
        if reason == "Invalid":
            raise invalid_request(400, f"Cannot redeploy deployment '{deployment_id}': {message}")
        raise internal(f"Cannot redeploy deployment '{deployment_id}': {message}")

    async def delete(self, namespace: str, deployment_id: str, *, cascade: bool = False) -> None:
        unit = self.find(
            namespace, deployment_id, f"Deployment with id '{deployment_id}' do not exist"
        )
        if self.engines is not None:
            await self._refuse_while_instances_run(namespace, unit, cascade)
        with write_errors():
            try:
                await self.writer.delete_unit(namespace, unit.name, unit.uid)
            except TimeoutError:
                raise WriteTimedOut(
                    f"deployment '{deployment_id}' was not deleted in time"
                ) from None

    async def _refuse_while_instances_run(
        self, namespace: str, unit: CachedUnit, cascade: bool
    ) -> None:
        """The bound engine's answer to deleting a deployment whose instances still run, without
        cascade, and the refusal of a cascade its ProcessEngine's deletePolicy does not allow.

        Asked before the unit is deleted: a deletion cannot be taken back, and the operator
        would otherwise hold the unit until the instances end.
        """
        sync = unit.status.engine
        if self.engines is None or sync is None or not sync.deployment_id:
            return
        try:
            engine = await self.engines.engine(namespace)
            for definition in sync.definitions:
                if definition.kind != "process":
                    continue
                running = await engine.client.count_instances(definition.id)
                if not running:
                    continue
                if not cascade:
                    raise engine_error(
                        500,
                        "ProcessEngineException",
                        "ENGINE-03076 Deletion of process definition without cascading failed. "
                        f"Process definition with id: {definition.id} can't be deleted, because "
                        f"there are {running} dependent process instances.",
                    )
                if engine.spec.delete_policy is DeletePolicy.KEEP_INSTANCES:
                    raise invalid_request(
                        400,
                        f"Deployment '{unit.deployment_id}' has {running} running process "
                        f"instance(s), which ProcessEngine '{engine.name}' keeps (deletePolicy "
                        "KeepInstances): end them first, or set its deletePolicy to Cascade.",
                    )
        except (EngineNotBound, EngineError) as error:
            raise unavailable(f"The process engine cannot be reached: {error}") from None
