"""The jBPM dialect's reference bodies (bpm-rest-apis.md §2.2) and helpers to compare with them."""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from deployunits.api.cache import CachedUnit, parse_unit
from deployunits.api.jbpm import ids

#: A deploy job accepted, XML as seen from a real server.
ACCEPTED_XML = (
    "<deployment-job-result><identifier>32</identifier><operation>DEPLOY</operation>"
    "<deploymentUnit><groupId>org.kie.example</groupId><artifactId>project1</artifactId>"
    "<version>1.0.0-SNAPSHOT</version><strategy>PER_PROCESS_INSTANCE</strategy>"
    "<status>ACCEPTED</status></deploymentUnit><success>true</success>"
    "<explanation>deploy job accepted.</explanation></deployment-job-result>"
)
#: The same in JSON.
ACCEPTED_JSON = (
    '{"identifier":32,"operation":"DEPLOY","deploymentUnit":{"groupId":"org.kie.example",'
    '"artifactId":"project1","version":"1.0.0-SNAPSHOT","kbaseName":null,"ksessionName":null,'
    '"strategy":"PER_PROCESS_INSTANCE","status":"ACCEPTED"},"success":true,'
    '"explanation":"deploy job accepted."}'
)
UNIT_FIELDS = [
    "groupId",
    "artifactId",
    "version",
    "kbaseName",
    "ksessionName",
    "strategy",
    "status",
]
JOB_FIELDS = ["identifier", "operation", "deploymentUnit", "success", "explanation"]


def reference_json() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(ACCEPTED_JSON)
    return result


def parse_xml(text: str | bytes) -> Element:
    root: Element = ElementTree.fromstring(text)
    return root


def xml_fields(element: Element) -> dict[str, Any]:
    """Child elements as a dict (nested ones as dicts, repeated ones as lists), in order."""
    fields: dict[str, Any] = {}
    for child in element:
        value: Any = xml_fields(child) if len(child) else (child.text or "")
        if child.tag in fields:
            existing = fields[child.tag]
            fields[child.tag] = (
                [*existing, value] if isinstance(existing, list) else [existing, value]
            )
        else:
            fields[child.tag] = value
    return fields


def child_order(element: Element) -> list[str]:
    return [child.tag for child in element]


PREFIX = "/business-central/rest"


def cached_unit(
    *,
    state: str = "Deployed",
    status: str | None = "DEPLOYED",
    generation: int = 1,
    observed: int | None = 1,
    strategy: str | None = None,
    deleting: bool = False,
    name: str | None = None,
    deployment_id: str = "org.acme:invoice:1.0",
) -> CachedUnit:
    """A cached DeploymentUnit with a Maven source, in namespace `ns`."""
    metadata: dict[str, Any] = {
        "name": name or ids.unit_name(deployment_id),
        "namespace": "ns",
        "uid": "u1",
        "resourceVersion": "100",
        "generation": generation,
    }
    if deleting:
        metadata["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    spec: dict[str, Any] = {
        "deploymentId": deployment_id,
        "resources": {"maven": {"groupId": "org.acme", "artifactId": "invoice", "version": "1.0"}},
        "state": state,
    }
    if strategy:
        spec["strategy"] = strategy
    status_body: dict[str, Any] = {}
    if status is not None:
        status_body["status"] = status
    if observed is not None:
        status_body["observedGeneration"] = observed
    parsed = parse_unit({"metadata": metadata, "spec": spec, "status": status_body})
    assert parsed is not None
    return parsed
