"""The cost of validating models as the engines do (schema and references), per resource size.

    .venv/bin/python bench/content_validation.py [--sizes 20480 1048576] [--repeat 30]

Prints, for a BPMN of each size (a chain of tasks joined by sequence flows, so the reference
checks have work): the safe parse (`xmlsafe`), the validation (`validation.validate_model` with
Camunda's rules, then jBPM's), reading the definitions, as medians in milliseconds, and the
validation's share of the three; the one-time compile of each model's schema; and the cost of
an invalid resource (every problem placed at its position). Figures only, no targets: the
operator validates each resource once per deploy job, the Camunda dialect once per create.
"""

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BPMN_HEADER
from deployunits.content.definitions import ModelKind, definitions_of
from deployunits.content.validation import InvalidModel, Rules, validate_model
from deployunits.content.xmlsafe import XmlDocument, parse_xml_document

DMN = (
    b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="D" '
    b'namespace="urn:bench"><decision id="k" name="K"/></definitions>'
)
CMMN = (
    b'<definitions xmlns="http://www.omg.org/spec/CMMN/20151109/MODEL" id="d" '
    b'targetNamespace="urn:bench"><case id="c"><casePlanModel id="m"/></case></definitions>'
)


def chained_bpmn(size: int, *, broken: bool = False) -> bytes:
    """A valid BPMN of about `size` bytes: tasks joined by flows (the last one dangling if
    `broken`, plus a misplaced element)."""
    parts = [BPMN_HEADER, '<bpmn:process id="bench" isExecutable="true">', '<bpmn:task id="t0"/>']
    index = 0
    while sum(map(len, parts)) < size - 300:
        index += 1
        parts.append(f'<bpmn:task id="t{index}" name="Task number {index} of the chain"/>')
        parts.append(
            f'<bpmn:sequenceFlow id="f{index}" sourceRef="t{index - 1}" targetRef="t{index}"/>'
        )
    if broken:
        parts.append('<bpmn:sequenceFlow id="dangling" sourceRef="t0" targetRef="missing"/>')
        parts.append('<bpmn:startEvent id="s"><bpmn:bogus/></bpmn:startEvent>')
    parts.append("</bpmn:process></bpmn:definitions>")
    return "".join(parts).encode()


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20 * 1024, 1024 * 1024])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    for name, content, kind in (
        ("first.bpmn", chained_bpmn(1024), ModelKind.BPMN),
        ("first.dmn", DMN, ModelKind.DMN),
        ("first.cmmn", CMMN, ModelKind.CMMN),
    ):
        document = parse_xml_document(content, name)
        start = time.perf_counter()
        validate_model(document, kind, Rules.CAMUNDA)  # compiles the schema once
        took = (time.perf_counter() - start) * 1000
        print(f"schema compile + first {kind} validation: {took:.1f} ms")

    for size in args.sizes:
        content = chained_bpmn(size)
        document = parse_xml_document(content, "bench.bpmn")
        parse = median_ms(lambda c=content: parse_xml_document(c, "bench.bpmn"), args.repeat)
        camunda = median_ms(
            lambda d=document: validate_model(d, ModelKind.BPMN, Rules.CAMUNDA), args.repeat
        )
        jbpm = median_ms(
            lambda d=document: validate_model(d, ModelKind.BPMN, Rules.JBPM), args.repeat
        )
        definitions = median_ms(lambda d=document: definitions_of(d, ModelKind.BPMN), args.repeat)
        broken = parse_xml_document(chained_bpmn(size, broken=True), "broken.bpmn")

        def refuse(document: XmlDocument = broken) -> None:
            with contextlib.suppress(InvalidModel):
                validate_model(document, ModelKind.BPMN, Rules.CAMUNDA)

        invalid = median_ms(refuse, max(3, args.repeat // 3))
        share = camunda / (parse + camunda + definitions)
        print(
            f"BPMN of {len(content) / 1024:.0f} KiB: parse {parse:.2f} ms, validate (Camunda) "
            f"{camunda:.2f} ms, validate (jBPM) {jbpm:.2f} ms, definitions {definitions:.2f} ms; "
            f"validation {share:.0%} of parse+validate+definitions; an invalid one refused in "
            f"{invalid:.2f} ms"
        )


if __name__ == "__main__":
    main()
