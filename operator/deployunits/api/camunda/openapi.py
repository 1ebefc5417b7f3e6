"""OpenAPI fragments the route signatures cannot express (raw query parsing, multipart, JSON)."""

from typing import Any

from deployunits.api.camunda.schemas import (
    AuthorizationExceptionDto,
    ExceptionDto,
    ParseExceptionDto,
    RedeploymentDto,
)

_DATE = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$",
    "example": "2013-01-23T14:42:45.000+0200",
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_FILTERS = [
    _query("id", "Deployments with this id.", {"type": "string"}),
    _query("name", "Deployments with this name.", {"type": "string"}),
    _query("nameLike", "Names LIKE this (`%` and `_` wildcards).", {"type": "string"}),
    _query("source", "Deployments with this source.", {"type": "string"}),
    _query(
        "withoutSource",
        "Only deployments without a source (cannot be combined with `source`).",
        {"type": "boolean"},
    ),
    _query("tenantIdIn", "Comma-separated tenant ids.", {"type": "string", "example": "a,b"}),
    _query("withoutTenantId", "Only deployments without a tenant.", {"type": "boolean"}),
    _query(
        "includeDeploymentsWithoutTenantId",
        "With `tenantIdIn`: also deployments without a tenant.",
        {"type": "boolean"},
    ),
    _query("after", "Deployed after this time.", _DATE),
    _query("before", "Deployed before this time.", _DATE),
    _query(
        "sortBy",
        "Sort key (requires `sortOrder`).",
        {"type": "string", "enum": ["id", "name", "deploymentTime", "tenantId"]},
    ),
    _query(
        "sortOrder", "Sort order (requires `sortBy`).", {"type": "string", "enum": ["asc", "desc"]}
    ),
]
_PAGING = [
    _query(
        "firstResult",
        "Index of the first result (0 when only maxResults is given).",
        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    ),
    _query(
        "maxResults",
        "Most results to return (all when only firstResult is given).",
        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    ),
]
LIST = {"parameters": _FILTERS + _PAGING}
COUNT = {"parameters": _FILTERS}
DELETE = {
    "parameters": [
        _query(name, "Accepted for compatibility; on only for exactly `true`.", {"type": "boolean"})
        for name in ("cascade", "skipCustomListeners", "skipIoMappings")
    ]
}
CREATE = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "deployment-name": {"type": "string"},
                        "deployment-source": {"type": "string"},
                        "tenant-id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                        "enable-duplicate-filtering": {"type": "boolean"},
                        "deploy-changed-only": {"type": "boolean"},
                        "deployment-activation-time": {"type": "string", "format": "date-time"},
                        "data": {
                            "type": "string",
                            "format": "binary",
                            "description": "Any other part is a resource; its file name is the "
                            "resource name.",
                        },
                    },
                    "required": ["data"],
                }
            }
        },
    }
}
REDEPLOY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": RedeploymentDto.model_json_schema(by_alias=True)}
        },
    }
}
DATA = {
    "responses": {
        "200": {
            "description": "The resource's bytes, with a media type taken from its extension.",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error responses in Camunda's shape, for the `responses` of a route."""
    descriptions = {
        400: ("Invalid request.", ExceptionDto),
        401: ("No or an invalid bearer token.", ExceptionDto),
        403: ("The caller lacks the permission.", AuthorizationExceptionDto),
        404: ("Not found.", ExceptionDto),
        413: ("The request body is too large.", ExceptionDto),
        415: ("Not multipart/form-data.", ExceptionDto),
        503: ("The API server is unavailable; see Retry-After.", ExceptionDto),
    }
    out: dict[int | str, dict[str, Any]] = {}
    # 400 always: an engine name that is no namespace, or one the shim does not serve.
    for status in (400, 401, 403, 503, *statuses):
        description, model = descriptions[status]
        out[status] = {"description": description, "model": model}
    return out


def create_errors() -> dict[int | str, dict[str, Any]]:
    out = errors(400, 413, 415)
    out[400] = {
        "description": "Invalid form, or resources that do not parse (ParseException).",
        "model": ParseExceptionDto | ExceptionDto,
    }
    return out


def _link(target: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    return {"operationId": target["operationId"], "parameters": parameters}


def add_links(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from the calls that answer a deployment id to the calls that take one.

    A created or redeployed deployment can be read, listed by resources, redeployed and deleted
    by its `id`; on a named engine the engine carries over from the request. Clients and
    stateful testers follow them.
    """
    for path, item in paths.items():
        for suffix in ("/deployment/create", "/deployment/{id}/redeploy"):
            if not path.endswith(suffix) or "post" not in item:
                continue
            base = path.removesuffix(suffix) + "/deployment/{id}"
            parameters = {"id": "$response.body#/id"}
            if "{engine}" in path:
                parameters["engine"] = "$request.path.engine"
            targets = {
                "GetDeployment": (base, "get"),
                "GetDeploymentResources": (f"{base}/resources", "get"),
                "RedeployDeployment": (f"{base}/redeploy", "post"),
                "DeleteDeployment": (base, "delete"),
            }
            links = {
                name: _link(paths[target][method], parameters)
                for name, (target, method) in targets.items()
                if method in paths.get(target, {})
            }
            item["post"]["responses"]["200"]["links"] = links
