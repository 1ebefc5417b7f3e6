"""Renders the CustomResourceDefinitions in crds/ from the pydantic models (their only source)."""

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from deployunits import constants
from deployunits.models.deploymentunit import (
    OBJECT_RULES,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
)
from deployunits.models.processengine import ProcessEngineSpec, ProcessEngineStatus
from deployunits.models.redeploy import RedeploySpec, RedeployStatus

_DROPPED_KEYS = {"title"}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as a Kubernetes structural schema (refs inlined, no nulls)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    converted: dict[str, Any] = _convert(raw, definitions)
    return converted


def _convert(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    if "anyOf" in node:
        # Optional[X] is "X or null"; Kubernetes expresses optional by leaving it out of required.
        choices = [c for c in node["anyOf"] if c.get("type") != "null"]
        if len(choices) != 1:
            raise ValueError(f"unsupported union in schema: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if rest.get("default", 0) is None:
            rest.pop("default")
        return _convert({**choices[0], **rest}, definitions)
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            converted[key] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key == "default" and value == []:
            continue  # an empty-list default only adds noise to the stored object
        else:
            converted[key] = _convert(value, definitions)
    if converted.get("type") == "integer":
        converted.setdefault("format", "int64")
    if converted.get("type") == "object" and "properties" not in converted:
        converted.setdefault("x-kubernetes-preserve-unknown-fields", True)
    return converted


def _ready_column(condition: str) -> dict[str, Any]:
    return {
        "name": condition,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
    }


# The descriptions Kubernetes gives these fields of every object (as controller-gen writes them).
_API_VERSION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values."
)
_KIND = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. In CamelCase."
)

_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _crd(
    *,
    names: constants.Names,
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, Any]],
    selectable: tuple[str, ...] = (),
    rules: list[Any] | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION},
            "kind": {"type": "string", "description": _KIND},
            # The API server refuses anything but a type here; explain shows ObjectMeta's.
            "metadata": {"type": "object"},
            "spec": structural_schema(spec),
            "status": structural_schema(status),
        },
    }
    if rules:
        schema["x-kubernetes-validations"] = rules
    version: dict[str, Any] = {
        "name": constants.VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [*columns, _AGE],
    }
    if selectable:
        # Field selectors the API server evaluates (kubectl --field-selector, and watches
        # that only want units in one state).
        version["selectableFields"] = [{"jsonPath": path} for path in selectable]
    version["schema"] = {"openAPIV3Schema": schema}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names.plural}.{constants.GROUP}"},
        "spec": {
            "group": constants.GROUP,
            "names": {
                "kind": names.kind,
                "listKind": f"{names.kind}List",
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": list(names.short_names),
                "categories": [constants.CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def deployment_unit_crd() -> dict[str, Any]:
    """The DeploymentUnit CRD."""
    return _crd(
        names=constants.DEPLOYMENT_UNIT_NAMES,
        spec=DeploymentUnitSpec,
        status=DeploymentUnitStatus,
        selectable=(".spec.deploymentId", ".status.status"),
        rules=OBJECT_RULES,
        columns=[
            {"name": "Deployment", "type": "string", "jsonPath": ".spec.deploymentId"},
            {"name": "Status", "type": "string", "jsonPath": ".status.status"},
            _ready_column("Ready"),
            {
                "name": "Reason",
                "type": "string",
                "priority": 1,
                "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            },
        ],
    )


def redeploy_crd() -> dict[str, Any]:
    """The Redeploy CRD."""
    return _crd(
        names=constants.REDEPLOY_NAMES,
        spec=RedeploySpec,
        status=RedeployStatus,
        selectable=(".spec.deploymentId",),
        columns=[
            {"name": "Source", "type": "string", "jsonPath": ".spec.deploymentId"},
            {"name": "New", "type": "string", "jsonPath": ".status.newDeploymentId"},
            _ready_column("Succeeded"),
        ],
    )


def process_engine_crd() -> dict[str, Any]:
    """The ProcessEngine CRD."""
    return _crd(
        names=constants.PROCESS_ENGINE_NAMES,
        spec=ProcessEngineSpec,
        status=ProcessEngineStatus,
        columns=[
            {"name": "URL", "type": "string", "jsonPath": ".spec.camunda7.url"},
            {"name": "KIE Server", "type": "string", "jsonPath": ".spec.kieServer.url"},
            _ready_column("Ready"),
            {"name": "Version", "type": "string", "jsonPath": ".status.engineVersion"},
            {"name": "Synced", "type": "integer", "jsonPath": ".status.deployments"},
            {
                "name": "Unmanaged",
                "type": "integer",
                "priority": 1,
                "jsonPath": ".status.unmanagedDeployments",
            },
        ],
    )


def rendered() -> dict[str, str]:
    """File name → YAML text of every CRD, exactly as committed in crds/."""
    header = (
        "# Generated from the pydantic models by `python -m deployunits.models.crd`; do not edit.\n"
    )
    crds = {
        f"{constants.GROUP}_{constants.DEPLOYMENT_UNIT_PLURAL}.yaml": deployment_unit_crd(),
        f"{constants.GROUP}_{constants.REDEPLOY_PLURAL}.yaml": redeploy_crd(),
        f"{constants.GROUP}_{constants.PROCESS_ENGINE_PLURAL}.yaml": process_engine_crd(),
    }
    return {
        name: header + yaml.safe_dump(body, sort_keys=False, width=100)
        for name, body in crds.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Write the CRDs into a folder, or check that the folder is up to date."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path, nargs="?", default=Path("crds"))
    parser.add_argument("--check", action="store_true", help="fail if the files differ")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = args.directory / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        sys.stderr.write(f"out of date (run python -m deployunits.models.crd): {stale}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
