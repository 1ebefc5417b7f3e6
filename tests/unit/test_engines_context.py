"""The operator's engine clients: a replaced or forgotten client stays open for calls in flight.

A push cut by the operator closing its own client looks to it like a broken connection while
the engine may deploy what it received; the client is closed only once its calls had their time
(the connection's request timeout), or at once when the operator stops.
"""

import asyncio

from deployunits.engines import Camunda7Client, Camunda7Connection
from deployunits.models.processengine import ProcessEngineSpec
from deployunits.operations.engines.context import Engine, EnginesContext

SPEC = ProcessEngineSpec.model_validate({"camunda7": {"url": "http://127.0.0.1:9/engine-rest"}})


def engine(request_timeout: float) -> Engine:
    connection = Camunda7Connection(url=SPEC.endpoint.url, request_timeout=request_timeout)
    return Engine("fingerprint", SPEC, Camunda7Client(connection))


def closed(known: Engine) -> bool:
    session = known.client._session  # whether its pool is closed
    return bool(session.closed)


def test_a_forgotten_client_is_closed_after_its_request_timeout() -> None:
    async def scenario() -> tuple[bool, bool]:
        context = EnginesContext(kube=None)  # no API server: nothing here reads it
        known = engine(request_timeout=0.2)
        context._engines[("ns", "camunda")] = known  # as client() stores it
        context.forget_client(("ns", "camunda"))
        await asyncio.sleep(0.05)
        at_first = closed(known)
        await asyncio.sleep(0.3)
        return at_first, closed(known)

    assert asyncio.run(scenario()) == (False, True)


def test_stopping_closes_the_clients_still_retiring_at_once() -> None:
    async def scenario() -> bool:
        context = EnginesContext(kube=None)  # no API server: nothing here reads it
        known = engine(request_timeout=60)
        context._engines[("ns", "camunda")] = known  # as client() stores it
        context.forget_client(("ns", "camunda"))
        await asyncio.sleep(0)
        await context.close()
        return closed(known)

    assert asyncio.run(scenario()) is True
