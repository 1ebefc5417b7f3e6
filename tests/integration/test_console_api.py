"""The console's JSON and event-stream API over real HTTP, against the real control plane.

Matrix: the page and its assets are served, with a content security policy; the units list shows
an applied unit with its Ready condition; the stream sends the whole list, then the unit applied
after it opened (Ready, without a new request), then its deletion; a unit's page has its
resources, definitions, conditions and Events, and a resource's bytes; a failed unit's page has
its ConfigMap sources; versions of a key across two units; an unknown unit 404. Auth mode
`kubernetes`: no token 401 (the session says so), a token without rights sees no unit and is
refused a unit's page, a reader sees the namespace, and a failed unit's sources only once the
reader may read its ConfigMaps.
"""

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.support import rbac
from tests.support.cluster import Cluster
from tests.support.console import (
    apply_failing_configmap_unit,
    apply_ready_unit,
    apply_unit,
    drawn_process,
)

pytestmark = pytest.mark.usefixtures("operator")


def console(shim: ShimProcess, token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=f"{shim.url}/console/", headers=rbac.bearer(token), timeout=30)


class Stream:
    """The console's event stream read in a thread: (event, body) pairs in a queue."""

    def __init__(self, shim: ShimProcess, token: str | None = None) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._client = console(shim, token)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "api/stream", timeout=None) as response:
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        self.events.put((event, json.loads(line.removeprefix("data: "))))
        except (httpx.HTTPError, RuntimeError) as error:
            # Closing the client ends the read; anything else shows as a missing event.
            self.events.put(("closed", repr(error)))

    def next(self, wanted: Callable[[str, Any], bool], within: float = 60) -> tuple[str, Any]:
        """The first event (skipping others) for which wanted(event, body) holds."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no such event arrived")
            try:
                event, body = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if wanted(event, body):
                return event, body

    def close(self) -> None:
        self._client.close()
        self._thread.join(timeout=10)


@pytest.fixture
def stream(shim: ShimProcess) -> Iterator[Stream]:
    opened = Stream(shim)
    yield opened
    opened.close()


def row(units: list[dict[str, Any]], namespace: str, name: str) -> dict[str, Any] | None:
    return next((u for u in units if (u["namespace"], u["name"]) == (namespace, name)), None)


class TestPage:
    def test_the_page_and_its_assets_are_served_with_a_strict_policy(
        self, shim: ShimProcess
    ) -> None:
        with console(shim) as client:
            moved = client.get(f"{shim.url}/console", follow_redirects=False)
            assert moved.status_code == 308
            assert moved.headers["location"] == "/console/"
            page = client.get("")
            assert page.status_code == 200
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["x-content-type-options"] == "nosniff"
            script = page.text.split('src="./', 1)[1].split('"', 1)[0]
            asset = client.get(script)
            assert asset.status_code == 200
            assert "javascript" in asset.headers["content-type"]


class TestUnits:
    def test_the_list_shows_an_applied_unit_with_its_conditions(
        self, cluster: Cluster, operator: OperatorProcess, shim: ShimProcess, namespace: str
    ) -> None:
        apply_ready_unit(
            cluster, operator, namespace, "listed", {"listed.bpmn": drawn_process("listed")}
        )
        with console(shim) as client:
            answer = client.get("api/units").json()
        assert namespace in answer["namespaces"]
        unit = row(answer["units"], namespace, "listed")
        assert unit is not None
        assert unit["deploymentId"] == f"{namespace}-listed"
        assert unit["status"] == "DEPLOYED"
        assert unit["ready"]["status"] == "True"
        assert unit["stalled"] is None
        assert unit["engine"] is None
        assert unit["created"]

    def test_the_stream_brings_a_new_unit_and_its_deletion_without_another_request(
        self,
        cluster: Cluster,
        operator: OperatorProcess,
        stream: Stream,
        namespace: str,
    ) -> None:
        stream.next(lambda event, _: event == "units")
        apply_unit(cluster, namespace, "live", {"live.bpmn": drawn_process("live")})

        def ready(event: str, body: Any) -> bool:
            unit = row(body.get("upserts", []), namespace, "live") if event == "change" else None
            return unit is not None and (unit["ready"] or {}).get("status") == "True"

        stream.next(ready)
        cluster.kubectl("delete", "du", "live", "-n", namespace)
        stream.next(
            lambda event, body: (
                event == "change" and {"namespace": namespace, "name": "live"} in body["deletes"]
            )
        )


class TestUnitPage:
    def test_a_units_page_has_its_resources_definitions_conditions_and_events(
        self, cluster: Cluster, operator: OperatorProcess, shim: ShimProcess, namespace: str
    ) -> None:
        content = drawn_process("paged")
        apply_ready_unit(
            cluster, operator, namespace, "paged", {"paged.bpmn": content, "notes.txt": b"hello"}
        )
        with console(shim) as client:
            page = client.get(f"api/units/{namespace}/paged").json()
            assert page["summary"]["name"] == "paged"
            assert {r["name"] for r in page["resources"]} == {"paged.bpmn", "notes.txt"}
            [definition] = page["definitions"]
            assert (definition["key"], definition["version"]) == ("paged", 1)
            assert [c["type"] for c in page["conditions"]][:1] == ["Ready"]
            assert page["failure"] is None
            assert page["eventsError"] is None
            assert page["events"], "the operator posts Events on the unit"
            assert all({"type", "reason", "message"} <= set(e) for e in page["events"])
            bpmn = next(r for r in page["resources"] if r["name"] == "paged.bpmn")
            data = client.get(f"api/units/{namespace}/paged/resources/{bpmn['id']}")
            assert data.status_code == 200
            assert data.content == content
            assert data.headers["content-type"].startswith("text/plain")
            missing = client.get(f"api/units/{namespace}/paged/resources/nope")
            assert missing.status_code == 404
            assert client.get(f"api/units/{namespace}/absent").status_code == 404

    def test_a_failed_units_page_has_its_configmap_sources(
        self, cluster: Cluster, operator: OperatorProcess, shim: ShimProcess, namespace: str
    ) -> None:
        apply_failing_configmap_unit(cluster, namespace, "cut")
        cluster.wait_condition("cut", namespace, "Stalled", operator)
        with console(shim) as client:
            page = client.get(f"api/units/{namespace}/cut").json()
        assert page["summary"]["status"] == "DEPLOY_FAILED"
        assert page["failure"]
        assert page["resources"] == []
        assert page["sources"] == [{"name": "cut.bpmn", "content": "<definitions><process"}]

    def test_versions_of_a_key_across_units(
        self, cluster: Cluster, operator: OperatorProcess, shim: ShimProcess, namespace: str
    ) -> None:
        apply_ready_unit(
            cluster, operator, namespace, "first", {"flow.bpmn": drawn_process("flow")}
        )
        apply_ready_unit(
            cluster, operator, namespace, "second", {"flow.bpmn": drawn_process("flow", "Check")}
        )
        with console(shim) as client:
            versions = client.get(f"api/versions/{namespace}/flow").json()["versions"]
        assert [(v["version"], v["unit"]) for v in versions] == [(2, "second"), (1, "first")]
        assert all(v["resourceId"] and v["resourceName"] == "flow.bpmn" for v in versions)


ACCOUNTS: dict[str, rbac.Rights] = {"reader": {"deploymentunits": ["get", "list"]}, "nobody": {}}


class TestKubernetesAuth:
    @pytest.fixture(scope="class")
    def guarded(self, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
        return start_shim(auth_mode="kubernetes")

    def test_no_token_is_401_and_the_session_asks_for_one(self, guarded: ShimProcess) -> None:
        with console(guarded) as client:
            session = client.get("api/session").json()
            assert session == {"authMode": "kubernetes", "user": None, "authenticated": False}
            for path in ("api/units", "api/stream", "api/units/default/x"):
                refused = client.get(path)
                assert refused.status_code == 401, path
                assert refused.headers["www-authenticate"] == "Bearer"
                assert refused.json()["message"]
            # The page itself is no secret: it asks for the token.
            assert client.get("").status_code == 200

    def test_a_token_without_rights_sees_nothing_and_a_reader_sees_the_namespace(
        self,
        cluster: Cluster,
        operator: OperatorProcess,
        guarded: ShimProcess,
        namespace: str,
    ) -> None:
        apply_ready_unit(
            cluster, operator, namespace, "guarded", {"guarded.bpmn": drawn_process("guarded")}
        )
        tokens = rbac.accounts(cluster, namespace, ACCOUNTS)
        with console(guarded, tokens["nobody"]) as client:
            session = client.get("api/session").json()
            assert session["authenticated"] is True
            assert session["user"].endswith(":nobody")
            answer = client.get("api/units").json()
            assert row(answer["units"], namespace, "guarded") is None
            assert namespace not in answer["namespaces"]
            assert client.get(f"api/units/{namespace}/guarded").status_code == 403
            assert client.get(f"api/versions/{namespace}/guarded").status_code == 403
        with console(guarded, tokens["reader"]) as client:
            answer = client.get("api/units").json()
            assert row(answer["units"], namespace, "guarded") is not None
            assert answer["namespaces"] == [namespace]
            assert client.get(f"api/units/{namespace}/guarded").status_code == 200

    def test_a_failed_units_sources_need_the_callers_right_to_read_its_configmaps(
        self,
        cluster: Cluster,
        operator: OperatorProcess,
        guarded: ShimProcess,
        namespace: str,
    ) -> None:
        apply_failing_configmap_unit(cluster, namespace, "cut")
        cluster.wait_condition("cut", namespace, "Stalled", operator)
        reader = rbac.accounts(cluster, namespace, ACCOUNTS)["reader"]

        def sources() -> list[Any]:
            with console(guarded, reader) as client:
                page = client.get(f"api/units/{namespace}/cut")
                assert page.status_code == 200, page.text
                found: list[Any] = page.json()["sources"]
                return found

        assert sources() == []
        cluster.kubectl(
            "create", "role", "cm", "--verb=get", "--resource=configmaps", "-n", namespace
        )
        cluster.kubectl(
            "create",
            "rolebinding",
            "cm",
            "--role=cm",
            f"--serviceaccount={namespace}:reader",
            "-n",
            namespace,
        )
        # A refusal is cached for a few seconds.
        wait_for(lambda: bool(sources()), 30, "the sources once the reader may read them")
        assert [s["name"] for s in sources()] == ["cut.bpmn"]
