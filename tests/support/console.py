"""What the console tests share: BPMN documents with diagrams, units applied with kubectl."""

from typing import Any

from devcluster.processes import OperatorProcess
from tests.support.cluster import Cluster
from tests.support.engine import add_unit
from tests.support.units import deployment_unit


def drawn_process(
    key: str, task: str = "Review", *, task_x: int = 240, broken: bool = False
) -> bytes:
    """A process start -> user task `task` -> end, with its diagram (BPMNDI), so that bpmn-js
    draws it; `broken` makes the task a service task without an implementation."""
    # A service task without an implementation: the engine refuses it and names the task.
    kind = "serviceTask" if broken else "userTask"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    id="defs-{key}" targetNamespace="http://deployunits.io/console">
  <process id="{key}" name="{key}" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="toTask" sourceRef="start" targetRef="task"/>
    <{kind} id="task" name="{task}"/>
    <sequenceFlow id="toEnd" sourceRef="task" targetRef="end"/>
    <endEvent id="end"/>
  </process>
  <bpmndi:BPMNDiagram id="diagram-{key}">
    <bpmndi:BPMNPlane id="plane-{key}" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="100" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="task_di" bpmnElement="task">
        <dc:Bounds x="{task_x}" y="78" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end">
        <dc:Bounds x="460" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="toTask_di" bpmnElement="toTask">
        <di:waypoint x="136" y="118"/><di:waypoint x="{task_x}" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="toEnd_di" bpmnElement="toEnd">
        <di:waypoint x="{task_x + 100}" y="118"/><di:waypoint x="460" y="118"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</definitions>
""".encode()


def decision_table(key: str) -> bytes:
    """A DMN 1.3 decision table of one rule (no DRD diagram: dmn-js shows the table)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="drd-{key}"
    name="Rules" namespace="http://deployunits.io/console">
  <decision id="{key}" name="Discount">
    <decisionTable id="table-{key}">
      <input id="customer" label="Customer">
        <inputExpression id="customerExpression" typeRef="string"><text>customer</text>
        </inputExpression>
      </input>
      <output id="result-{key}" label="Discount" name="discount" typeRef="number"/>
      <rule id="gold">
        <inputEntry id="goldInput"><text>"gold"</text></inputEntry>
        <outputEntry id="goldOutput"><text>0.1</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
""".encode()


def apply_unit(
    cluster: Cluster, namespace: str, name: str, resources: dict[str, bytes], **options: str
) -> None:
    """A DeploymentUnit with inline resources, applied with kubectl (bound to ProcessEngine
    `engine=` when given, else stored only)."""
    add_unit(cluster, namespace, name, resources, engine=options.get("engine"))


def apply_ready_unit(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    name: str,
    resources: dict[str, bytes],
) -> dict[str, Any]:
    """`apply_unit` (stored only), then wait until the unit is Ready; the unit as shown then."""
    apply_unit(cluster, namespace, name, resources)
    return cluster.wait_condition(name, namespace, "Ready", operator)


def apply_failing_configmap_unit(cluster: Cluster, namespace: str, name: str) -> None:
    """A unit whose ConfigMap source holds malformed XML: the operator refuses it (Stalled)
    and stores nothing."""
    cluster.kubectl(
        "create",
        "configmap",
        f"{name}-src",
        "-n",
        namespace,
        "--from-literal=cut.bpmn=<definitions><process",
    )
    cluster.apply_objects(
        namespace,
        deployment_unit(name, deployment_id=f"{namespace}-{name}", config_maps=[f"{name}-src"]),
    )
