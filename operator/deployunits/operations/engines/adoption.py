"""Deployments no unit owns, imported as DeploymentUnits (spec.adoptExisting)."""

import logging
from collections.abc import Sequence

from deployunits.content.digest import sha256_hex
from deployunits.engines import (
    EngineError,
)
from deployunits.k8s.errors import ApiError
from deployunits.operations.engines.context import EnginesContext, Ref
from deployunits.reconcile import engine as decide

logger = logging.getLogger(__name__)

#: Deployments imported per resync at most (each costs a few engine and API server calls).
ADOPTIONS_PER_RESYNC = 20


async def adopt(ctx: EnginesContext, ref: Ref, unmanaged: Sequence[str]) -> None:
    """Import deployments no unit owns, once each, as DeploymentUnits bound to the engine: the
    content read from the engine and stored as snapshots, labelled as adopted. The unit's pass
    then takes the engine's deployment as its own (see push), so nothing is deployed twice."""
    namespace, name = ref
    engine = await ctx.client(namespace, name)
    adopted = 0
    for deployment_id in unmanaged:
        if adopted >= ADOPTIONS_PER_RESYNC:
            break
        unit_name = decide.adopted_unit_name(deployment_id)
        if unit_name is None or await ctx.kube.units.find(namespace, unit_name) is not None:
            continue
        try:
            ctx.count("get")
            found = await engine.camunda.deployment(deployment_id)
            if found is None:
                continue
            ctx.count("resources")
            resources = await engine.camunda.resources(deployment_id)
            contents = []
            for resource in resources:
                ctx.count("data")
                contents.append(
                    (resource.name, await engine.camunda.resource_data(deployment_id, resource.id))
                )
        except EngineError as error:
            logger.warning("Adopting deployment %s of %s/%s failed: %s", deployment_id, *ref, error)
            continue
        seen = decide.EngineDeploymentSeen(
            found.id, found.name, found.source, found.tenant_id, found.deployment_time
        )
        unit = decide.adopted_unit(name, unit_name, seen, [(n, sha256_hex(c)) for n, c in contents])
        if unit is None:
            continue
        for _, content in contents:
            await ctx.kube.snapshots.create(namespace, sha256_hex(content), content)
        try:
            await ctx.kube.units.create(namespace, unit)
        except ApiError as error:
            if not error.conflict:
                raise
        adopted += 1
        logger.info("Adopted deployment %s of %s/%s as unit %s.", deployment_id, *ref, unit_name)
