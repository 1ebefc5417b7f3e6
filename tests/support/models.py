"""Small valid BPMN, DMN and CMMN documents for tests, built from a few parameters."""


def bpmn(*keys: str, executable: bool = True, extra: str = "") -> str:
    """A BPMN 2.0 document with one process per key (each a start event only)."""
    processes = "".join(
        f'<bpmn:process id="{key}" name="{key.title()}" isExecutable="{str(executable).lower()}">'
        f'<bpmn:startEvent id="start_{key}"/>{extra}</bpmn:process>'
        for key in keys
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" '
        f'targetNamespace="http://bpmn.io/schema/bpmn">{processes}</bpmn:definitions>'
    )


def dmn(*keys: str, drd: str = "drd") -> str:
    """A DMN 1.3 document with one decision per key."""
    decisions = "".join(
        f'<decision id="{key}" name="{key.title()}"><literalExpression><text>1</text>'
        "</literalExpression></decision>"
        for key in keys
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" '
        f'id="{drd}" name="Decisions" namespace="http://camunda.org/schema/1.0/dmn">'
        f"{decisions}</definitions>"
    )


def cmmn(*keys: str) -> str:
    """A CMMN 1.1 document with one case per key."""
    cases = "".join(
        f'<case id="{key}" name="{key.title()}"><casePlanModel id="plan_{key}"/></case>'
        for key in keys
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="http://www.omg.org/spec/CMMN/20151109/MODEL" id="cases" '
        f'targetNamespace="http://bpmn.io/schema/cmmn">{cases}</definitions>'
    )
