"""The committed CRDs are exactly what the pydantic models render, and they agree field by field."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from deployunits.models import crd
from deployunits.models.deploymentunit import DeploymentUnitSpec, DeploymentUnitStatus
from deployunits.models.processengine import ProcessEngineSpec, ProcessEngineStatus
from deployunits.models.redeploy import RedeploySpec, RedeployStatus

CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.mark.parametrize("name", sorted(crd.rendered()))
def test_committed_crd_equals_rendered(name: str) -> None:
    assert (CRDS / name).read_text() == crd.rendered()[name], (
        "crds/ is stale: run `python -m deployunits.models.crd`"
    )


def _schema(kind_file: str, part: str) -> dict[str, Any]:
    document = yaml.safe_load((CRDS / kind_file).read_text())
    [version] = document["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"][part]
    return schema


def _walk(schema: dict[str, Any], model: type[BaseModel], path: str) -> None:
    """Every model field is in the schema under its camelCase name, and nothing else is."""
    properties = schema["properties"]
    aliases = {f.alias or n: f for n, f in model.model_fields.items()}
    assert set(properties) == set(aliases), path
    required = set(schema.get("required", []))
    for alias, field in aliases.items():
        assert (alias in required) == field.is_required(), f"{path}.{alias} required-ness"
        annotation = field.annotation
        nested = getattr(annotation, "__args__", (annotation,))
        for candidate in nested:
            target = getattr(candidate, "__args__", (candidate,))[0]
            if isinstance(target, type) and issubclass(target, BaseModel):
                sub = properties[alias]
                sub = sub.get("items", sub)
                _walk(sub, target, f"{path}.{alias}")


@pytest.mark.parametrize(
    ("kind_file", "part", "model"),
    [
        ("bpm.deployunits.io_deploymentunits.yaml", "spec", DeploymentUnitSpec),
        ("bpm.deployunits.io_deploymentunits.yaml", "status", DeploymentUnitStatus),
        ("bpm.deployunits.io_redeploys.yaml", "spec", RedeploySpec),
        ("bpm.deployunits.io_redeploys.yaml", "status", RedeployStatus),
        ("bpm.deployunits.io_processengines.yaml", "spec", ProcessEngineSpec),
        ("bpm.deployunits.io_processengines.yaml", "status", ProcessEngineStatus),
    ],
)
def test_schema_fields_match_model_fields(
    kind_file: str, part: str, model: type[BaseModel]
) -> None:
    _walk(_schema(kind_file, part), model, part)


def _all_nodes(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_all_nodes(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_all_nodes(value))
    return found


@pytest.mark.parametrize("name", sorted(crd.rendered()))
def test_every_string_list_and_map_is_bounded(name: str) -> None:
    document = yaml.safe_load(crd.rendered()[name])
    schema = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for node in _all_nodes(schema["properties"]["spec"]) + _all_nodes(
        schema["properties"]["status"]
    ):
        kind = node.get("type")
        if kind == "string":
            assert "maxLength" in node or "enum" in node or "format" in node, node
        elif kind == "array":
            assert "maxItems" in node, node
        elif kind == "object" and "properties" not in node:
            assert "maxProperties" in node, node


def test_structural_schema_has_no_refs_or_nulls() -> None:
    text = "".join(crd.rendered().values())
    assert "$ref" not in text
    assert "anyOf" not in text
    assert "type: 'null'" not in text


def test_names_categories_and_columns() -> None:
    unit = yaml.safe_load(crd.rendered()["bpm.deployunits.io_deploymentunits.yaml"])
    assert unit["spec"]["names"]["shortNames"] == ["du"]
    assert unit["spec"]["names"]["categories"] == ["bpm"]
    columns = [c["name"] for c in unit["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:3] == ["Deployment", "Status", "Ready"]
    assert columns[-1] == "Age"
    redeploy = yaml.safe_load(crd.rendered()["bpm.deployunits.io_redeploys.yaml"])
    assert redeploy["spec"]["names"]["shortNames"] == ["rdp"]
    assert redeploy["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_process_engine_names_defaults_and_columns() -> None:
    engine = yaml.safe_load(crd.rendered()["bpm.deployunits.io_processengines.yaml"])
    names = engine["spec"]["names"]
    assert (names["kind"], names["shortNames"], names["categories"]) == (
        "ProcessEngine",
        ["pe"],
        ["bpm"],
    )
    [version] = engine["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c]
    assert columns == ["URL", "KIE Server", "Ready", "Version", "Synced", "Age"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert schema["x-kubernetes-validations"] == [
        {
            "rule": "has(self.camunda7) != has(self.kieServer)",
            "message": "set exactly one of camunda7 and kieServer",
        }
    ]
    spec = schema["properties"]
    assert spec["deletePolicy"]["default"] == "KeepInstances"
    assert spec["deletePolicy"]["enum"] == ["Cascade", "KeepInstances"]
    assert (spec["resyncSeconds"]["default"], spec["adoptExisting"]["default"]) == (60, False)


def test_engine_ref_rule_sits_on_the_whole_unit() -> None:
    # It reads status.deploymentTime, which a rule on spec cannot see.
    unit = yaml.safe_load(crd.rendered()["bpm.deployunits.io_deploymentunits.yaml"])
    root = unit["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    [rule] = root["x-kubernetes-validations"]
    assert "oldSelf.status.deploymentTime" in rule["rule"]
    assert rule["fieldPath"] == ".spec.engineRef"


def _undescribed(node: dict[str, Any], path: str) -> list[str]:
    """Paths of the properties under `node` (items included) that have no description."""
    missing = []
    for name, sub in node.get("properties", {}).items():
        if not sub.get("description", "").strip():
            missing.append(f"{path}.{name}")
        missing += _undescribed(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        missing += _undescribed(node["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("name", sorted(crd.rendered()))
def test_kubectl_explain_describes_every_field(name: str) -> None:
    # Descriptions are written once, as the models' field docstrings (or Field descriptions).
    document = yaml.safe_load(crd.rendered()[name])
    for version in document["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        # metadata may carry nothing but its type; kubectl explain describes it as ObjectMeta.
        assert _undescribed(schema, "") == [".metadata"], f"{name}: fields without a description"
