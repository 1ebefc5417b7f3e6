"""The job queue's ledger format and its decisions on one ledger version (no API server)."""

import asyncio
import json
from typing import Any

import pytest

from deployunits.api.cache import UnitCache
from deployunits.api.jbpm import ids, jobs
from deployunits.api.jbpm.index import JbpmIndex
from deployunits.api.jbpm.jobs import Record, Request
from deployunits.api.jbpm.queue import MAX_RECORDS, JobQueue, Ledger, _Proposal, _Removal
from deployunits.k8s.connect import connect
from deployunits.k8s.connection import Connection
from deployunits.models.deploymentunit import JobOperation
from tests.support.jbpm import cached_unit as unit

DEPLOY, UNDEPLOY = JobOperation.DEPLOY, JobOperation.UNDEPLOY


def queue(limit: int = 3) -> tuple[JobQueue, JbpmIndex]:
    kube = connect(Connection(server="http://127.0.0.1:9"))
    index = JbpmIndex("ns")
    return (
        JobQueue(
            kube,
            UnitCache(kube, ["ns"]),
            index,
            namespace="ns",
            limit=limit,
            replica="r1",
            on_admitted=lambda record: None,
        ),
        index,
    )


def proposals(*requests: Request) -> list[_Proposal]:
    return [_Proposal(request, None) for request in requests]  # type: ignore[arg-type]


def record(deployment_id: str, seq: int, action: Any = "create", generation: int = 0) -> Record:
    return Record(seq, DEPLOY, deployment_id, ids.unit_name(deployment_id), action, generation)


def test_ledger_round_trip() -> None:
    records = {r.unit: r for r in (record("a:b:c", 12), record("a:b:d", 11, "patch", 3))}
    ledger = Ledger("7", seq=12, watermark=99, records=records)
    data = ledger.data()
    assert set(data) == {"seq", "materialized-rv", "jobs"}
    parsed = Ledger.parse({"metadata": {"resourceVersion": "7"}, "data": data})
    assert (parsed.resource_version, parsed.seq, parsed.watermark) == ("7", 12, 99)
    assert parsed.records == records
    assert parsed.legacy_keys == frozenset()


def test_malformed_records_are_skipped_and_the_rest_kept() -> None:
    good = record("a:b:c", 3)
    jobs_text = json.dumps({good.unit: json.loads(good.encoded), "bad": ["x"], "worse": 7})
    parsed = Ledger.parse({"metadata": {}, "data": {"jobs": jobs_text, "seq": "x"}})
    assert (parsed.resource_version, parsed.seq, parsed.records) == (None, 0, {good.unit: good})
    for broken in ("nonsense", "[1, 2]"):
        assert Ledger.parse({"data": {"jobs": broken, "seq": "4"}}).records == {}


def test_a_ledger_of_the_earlier_per_key_format_is_read_and_converted_on_write() -> None:
    old = record("a:b:c", 5)
    stored = {"seq": "5", "materialized-rv": "10", f"job.{old.unit}": old.encoded, "job.x": "?"}
    parsed = Ledger.parse({"metadata": {"resourceVersion": "3"}, "data": stored})
    assert parsed.records == {old.unit: old}
    assert parsed.legacy_keys == {f"job.{old.unit}", "job.x"}
    jobs_queue, _ = queue()
    evaluation = jobs_queue._evaluate(parsed, proposals(Request(DEPLOY, "a:b:2")), [])
    data = evaluation.ledger.data()
    # The merge patch removes the old keys and writes every record under the one key.
    assert (data[f"job.{old.unit}"], data["job.x"]) == (None, None)
    assert set(json.loads(data["jobs"] or "")) == {old.unit, ids.unit_name("a:b:2")}


def test_admissions_get_consecutive_identifiers_and_identical_ones_are_refused() -> None:
    jobs_queue, _ = queue()
    ledger = Ledger("1", seq=41)
    evaluation = jobs_queue._evaluate(
        ledger,
        proposals(Request(DEPLOY, "a:b:1"), Request(DEPLOY, "a:b:1"), Request(DEPLOY, "a:b:2")),
        [],
    )
    assert [r.identifier for r in evaluation.results] == [42, None, 43]
    assert evaluation.results[1].explanation == "A job already exists to deploy deployment [a:b:1]"
    assert evaluation.changed and evaluation.ledger.data()["seq"] == "43"
    assert set(evaluation.ledger.records) == {ids.unit_name("a:b:1"), ids.unit_name("a:b:2")}
    assert all(r.replica == "r1" for r in evaluation.admitted)


def test_pending_jobs_count_cache_and_unwritten_records_once() -> None:
    jobs_queue, index = queue(limit=3)
    busy = unit(deployment_id="x:y:1", generation=2)  # a pending deploy in the cache
    index.update(("ns", busy.name), busy)
    written = unit(deployment_id="x:y:2")  # its record is written: the unit counts, not both
    index.update(("ns", written.name), written)
    records = {
        busy.name: record("x:y:1", 1, "patch", generation=1),  # written too (generation 2)
        written.name: record("x:y:2", 2),
        ids.unit_name("x:y:3"): record("x:y:3", 3),  # not in the cache yet: pending
    }
    ledger = Ledger("5", seq=3, records=records)
    evaluation = jobs_queue._evaluate(
        ledger, proposals(Request(DEPLOY, "x:y:4"), Request(DEPLOY, "x:y:5")), []
    )
    # Pending: x:y:1 (cache) and x:y:3 (record); x:y:4 takes the third place, x:y:5 is refused.
    assert [r.success for r in evaluation.results] == [True, False]
    assert evaluation.results[1].explanation == jobs.QUEUE_FULL


def test_removals_match_the_sequence_and_raise_the_watermark() -> None:
    jobs_queue, _ = queue()
    name = ids.unit_name("a:b:1")
    ledger = Ledger("3", seq=8, watermark=50, records={name: record("a:b:1", 8)})
    stale = jobs_queue._evaluate(ledger, [], [_Removal(name, 7, 40)])
    assert name in stale.ledger.records
    assert not stale.changed
    done = jobs_queue._evaluate(ledger, [], [_Removal(name, 8, 70)])
    assert done.ledger.records == {}
    assert done.changed
    assert done.ledger.data() == {"seq": "8", "materialized-rv": "70", "jobs": "{}"}


def test_a_ledger_at_its_size_limit_is_a_full_queue() -> None:
    jobs_queue, _ = queue(limit=10**6)
    records = {f"u{i}": record(f"g:a:{i}", i) for i in range(MAX_RECORDS)}
    evaluation = jobs_queue._evaluate(
        Ledger("1", records=records), proposals(Request(DEPLOY, "n:e:w")), []
    )
    assert evaluation.results[0].explanation == jobs.QUEUE_FULL


@pytest.mark.parametrize("operation", [DEPLOY, UNDEPLOY])
def test_refusals_need_no_write(operation: JobOperation) -> None:
    jobs_queue, index = queue()
    deployed = unit(deployment_id="d:e:f")
    index.update(("ns", deployed.name), deployed)
    request = Request(operation, "d:e:f" if operation is DEPLOY else "n:o:pe")
    evaluation = jobs_queue._evaluate(Ledger("1"), proposals(request), [])
    assert evaluation.results[0].success is False
    assert not evaluation.changed


def test_a_record_removed_in_the_same_write_still_counts_until_the_cache_shows_its_unit() -> None:
    # Found by the concurrency drill: the undeploy's record went in the write that admitted a
    # second undeploy on the cache's older unit, and the second one was then dropped.
    jobs_queue, index = queue()
    deployed = unit(deployment_id="x:y:1", generation=3)  # the undeploy is not in the cache yet
    index.update(("ns", deployed.name), deployed)
    undeploy = Record(6, UNDEPLOY, "x:y:1", deployed.name, "patch", generation=3)
    ledger = Ledger("5", seq=6, records={deployed.name: undeploy})
    evaluation = jobs_queue._evaluate(
        ledger, proposals(Request(UNDEPLOY, "x:y:1")), [_Removal(deployed.name, 6, 120)]
    )
    assert evaluation.results[0].identifier is None
    assert evaluation.results[0].explanation == jobs.job_exists(UNDEPLOY, "x:y:1")
    assert evaluation.admitted == []
    assert evaluation.ledger.records == {}
    assert evaluation.ledger.watermark == 120


def test_jobs_wait_for_a_burst_of_requests_to_pass_but_at_most_their_bound() -> None:
    async def scenario() -> None:
        jobs_queue, _ = queue()
        jobs_queue.start()
        try:
            assert jobs_queue._calm.is_set()
            # A request in flight (what submit() does while its answer is pending).
            jobs_queue._active += 1
            jobs_queue._arrived.set()
            jobs_queue._calm.clear()
            # The bound ends the wait while the burst goes on...
            await asyncio.wait_for(jobs_queue.wait_calm(0.1), 2)
            assert not jobs_queue._calm.is_set()
            # ...and the burst's end ends it sooner.
            waiting = asyncio.create_task(jobs_queue.wait_calm(30))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            jobs_queue._active -= 1
            await asyncio.wait_for(waiting, 2)
            assert jobs_queue._calm.is_set()
            # A job admitted long ago (taken over from a stopped replica) does not wait.
            jobs_queue._calm.clear()
            await asyncio.wait_for(jobs_queue.wait_calm(-5), 0.5)
        finally:
            await jobs_queue.stop()

    asyncio.run(scenario())
