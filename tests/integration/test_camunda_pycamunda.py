"""A real Camunda client, pycamunda 0.6.1, against the shim: what existing scripts do.

Matrix: create (with file names, tenant, source, duplicate filtering as Python `True`), list with
filters, sorting and paging, get, resources, one resource, resource data, delete; typed errors.
"""

import datetime as dt

import pycamunda
import pycamunda.deployment as deployment
import pytest

from devcluster.processes import ShimProcess


def bpmn(key: str) -> bytes:
    return (
        '<?xml version="1.0"?><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'targetNamespace="http://x"><process id="{key}" name="P {key}" isExecutable="true"/>'
        "</definitions>"
    ).encode()


@pytest.fixture
def url(shim: ShimProcess, namespace: str) -> str:
    return shim.engine(namespace)


def create(
    url: str, name: str, *files: tuple[str, bytes], **options: object
) -> deployment.DeploymentWithDefinitions:
    request = deployment.Create(url, name=name, **options)  # type: ignore[arg-type]
    for file in files:
        request.add_resource(file)
    return request()


def test_create_get_resources_data_delete(url: str) -> None:
    content = bpmn("order")
    created = create(url, "orders", ("order.bpmn", content), source="ci", tenant_id="shop")
    assert created.name == "orders"
    assert created.source == "ci"
    assert created.tenant_id == "shop"
    assert isinstance(created.deployment_time, dt.datetime)
    assert created.deployment_time.tzinfo is not None
    assert created.links[0].rel == "self"
    [process] = created.deployed_process_definitions.values()
    assert (process.key, process.version, process.resource) == ("order", 1, "order.bpmn")
    assert process.tenant_id == "shop"
    assert created.deployed_case_definitions is None

    got = deployment.Get(url, id_=created.id_)()
    assert (got.id_, got.name, got.source, got.tenant_id) == (created.id_, "orders", "ci", "shop")
    assert got.deployment_time == created.deployment_time

    [resource] = deployment.GetResources(url, id_=created.id_)()
    assert resource.name == "order.bpmn"
    assert resource.deployment_id == created.id_
    one = deployment.GetResource(url, id_=created.id_, resource_id=resource.id_)()
    assert one == resource
    data = deployment.GetResource(url, id_=created.id_, resource_id=resource.id_, binary=True)()
    assert data == content

    deployment.Delete(url, id_=created.id_, cascade=True)()
    with pytest.raises(pycamunda.NotFound, match="does not exist"):
        deployment.Get(url, id_=created.id_)()


def test_raw_bytes_get_the_field_name_and_python_booleans_count(url: str) -> None:
    first = create(url, "raw", bpmn("raw"), enable_duplicate_filtering=True)
    assert first.deployed_process_definitions is None
    [resource] = deployment.GetResources(url, id_=first.id_)()
    assert resource.name == "resource-0"
    # "True" (a Python str) is true for the engine: the same content is not deployed again.
    again = create(url, "raw", bpmn("raw"), enable_duplicate_filtering=True)
    assert again.id_ == first.id_


def test_list_with_filters(url: str) -> None:
    a = create(url, "alpha", ("a.bpmn", bpmn("a")), tenant_id="t1")
    b = create(url, "beta", ("b.bpmn", bpmn("b")), source="modeler")
    c = create(url, "alphabet", ("c.bpmn", bpmn("c")))
    everything = deployment.GetList(url)()
    assert {d.id_ for d in everything} == {a.id_, b.id_, c.id_}
    assert [d.id_ for d in deployment.GetList(url, name="beta")()] == [b.id_]
    assert {d.id_ for d in deployment.GetList(url, name_like="alpha%")()} == {a.id_, c.id_}
    assert [d.id_ for d in deployment.GetList(url, source="modeler")()] == [b.id_]
    assert {d.id_ for d in deployment.GetList(url, without_source=True)()} == {a.id_, c.id_}
    assert [d.id_ for d in deployment.GetList(url, tenant_id_in=["t1"])()] == [a.id_]
    assert {d.id_ for d in deployment.GetList(url, without_tenant_id=True)()} == {b.id_, c.id_}
    with_none = deployment.GetList(
        url, tenant_id_in=["t1"], include_deployments_without_tenant_id=True
    )()
    assert {d.id_ for d in with_none} == {a.id_, b.id_, c.id_}
    by_name = deployment.GetList(url, sort_by="name", ascending=False)()
    assert [d.name for d in by_name] == ["beta", "alphabet", "alpha"]
    page = deployment.GetList(url, sort_by="name", ascending=True, first_result=1, max_results=1)()
    assert [d.name for d in page] == ["alphabet"]
    later = deployment.GetList(url, after=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))()
    assert len(later) == 3
    earlier = deployment.GetList(url, before=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))()
    assert earlier == ()


def test_errors_are_typed(url: str) -> None:
    # pycamunda maps deployment_time to `definitionTime`, which the engine refuses.
    with pytest.raises(pycamunda.BadRequest, match="Cannot set query parameter 'sortBy'"):
        deployment.GetList(url, sort_by="definition_time")()
    with pytest.raises(pycamunda.NotFound, match="do not exist"):
        deployment.Delete(url, id_="missing")()
    with pytest.raises(pycamunda.NotFound, match="do not exist"):
        deployment.GetResources(url, id_="missing")()
