"""Operator start-up and shutdown: kopf settings, storage prefixes, the shared clients."""

import asyncio
import logging
from typing import Any

import aiohttp
import kopf

from deployunits import constants
from deployunits.content.maven import MavenHttp
from deployunits.handlers import common, context
from deployunits.k8s.connect import connect
from deployunits.k8s.connection import Connection
from deployunits.memory import IdleTrimmer
from deployunits.metrics import OperatorMetrics
from deployunits.operations import engines, redeploys, units
from deployunits.operations.retries import RetryScheduler
from deployunits.operations.runner import PassSlots
from deployunits.probes import ProbeServer
from deployunits.settings import OperatorSettings


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Pin kopf's storage to the project's prefix and create the shared clients."""
    config = OperatorSettings()
    # Handlers here are level-based event handlers that keep their state in status; the
    # storages are still pinned so that no kopf.zalando.org key is ever written.
    settings.persistence.finalizer = constants.KOPF_FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=constants.PREFIX)
    settings.persistence.diffbase_storage = common.NoDiffBase()
    settings.posting.enabled = config.post_handler_events
    settings.posting.level = logging.WARNING
    # Watches behind NAT or load balancers can go silent (kopf#204, #585): bound them.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # The initial listing in pages: one list of 10,000 units at once is a memory spike that the
    # allocator keeps as resident memory afterwards.
    settings.watching.chunk_size = 500
    # Source ConfigMaps are watched for drift; the operator's own snapshots are filtered out
    # by the API server, so they cost neither traffic nor memory here.
    settings.watching.label_selectors["v1", "configmaps"] = f"!{constants.SNAPSHOT_LABEL}"
    # No kopf worker limit: with indexes, capped workers can all wait for an index that only
    # an uncapped worker would fill (a deadlock at start-up). Passes are bounded below instead.
    settings.queueing.worker_limit = None
    settings.networking.enforce_retry_after = True
    # Failed API calls, watches included, are retried at most 5 s apart (about 50 s in all,
    # then a watch starts over): kopf's default pauses grow to 21 s, so after a long outage of
    # the API server the operator would stay away that long after the server is back.
    settings.networking.error_backoffs = (0.5, 1, 2, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5)
    settings.peering.lifetime = config.peering_lifetime
    # Connections beyond what the bounded passes can use cost a TLS handshake on both ends
    # each (measured: a tenth of the operator's CPU in a burst with the default of 100).
    kube = connect(
        Connection.load(config.kubeconfig), max_connections=config.max_concurrent_reconciles + 8
    )
    # Maven repositories: a pass fetches one file at a time, so the passes bound the connections
    # in use, as for the Kubernetes client; idle ones are kept alive for the next kjar.
    # trust_env: HTTP(S)_PROXY, NO_PROXY and netrc apply, as they did with httpx.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=config.max_concurrent_reconciles + 8),
        # Per read, not per request (as with httpx): a large kjar on a slow link is fine as
        # long as bytes keep coming; the size limits bound how much may come.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=30.0),
    )
    http = MavenHttp(session, trust_env=True)
    metrics = OperatorMetrics()
    unit_context = units.UnitsContext(
        settings=config,
        kube=kube,
        http=http,
        metrics=metrics,
        slots=PassSlots(
            asyncio.Semaphore(config.max_concurrent_reconciles),
            max_waiting=config.max_waiting_reconciles,
        ),
    )
    engine_context = engines.EnginesContext(kube=kube, metrics=metrics)
    unit_context.engines = engine_context
    metrics.watch_units(unit_context.states)
    redeploy_context = redeploys.RedeploysContext(kube=kube, metrics=metrics)
    for runner in (unit_context.runner, redeploy_context.runner):
        runner.retries = RetryScheduler(runner.reconcile_ref)
    engines.start(
        engine_context,
        sync_unit=lambda ref: units.resync_with_engine(unit_context, ref),
        retry_unit=unit_context.runner.reconcile_ref,
    )
    probes = ProbeServer(config.probe_host, config.probe_port, metrics.registry, kube.version)
    await probes.start()
    trimmer = IdleTrimmer()
    trimmer.start()
    memo["context"] = context.OperatorContext(
        settings=config,
        kube=kube,
        units=unit_context,
        redeploys=redeploy_context,
        engines=engine_context,
        metrics=metrics,
        probes=probes,
        trimmer=trimmer,
    )


# Logs in as the project's own client does; bench's least operator logs in the same way.
kopf.on.login()(common.login)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    """Stop retries and close the clients."""
    ctx = context.of(memo)
    await ctx.probes.stop()
    await ctx.trimmer.stop()
    await ctx.units.runner.drain()
    await ctx.engines.close()
    for runner in (ctx.units.runner, ctx.redeploys.runner):
        if runner.retries is not None:
            await runner.retries.close()
    await ctx.units.http.session.close()
    await ctx.kube.aclose()
