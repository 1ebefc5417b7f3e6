"""The real jBPM 6.5 wire classes (kie-remote-jaxb) and a Java program that round-trips bodies
through them, for tests that check the jBPM dialect's XML and JSON against the engine's own
classes.

The jars come from Maven Central with `mvn dependency:copy`, one artifact at a time and without
their POMs' parents (those import a BOM that only the JBoss repository has), into the dev kit's
cache, once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from devcluster.binaries import cache_root, locked

ROUND_TRIP = Path(__file__).resolve().parent / "java" / "KieWireRoundTrip.java"

#: kie-remote-jaxb 6.5 and what its classes need at run time on Java 17 (JAXB left the JDK).
ARTIFACTS = (
    "org.kie.remote:kie-remote-jaxb:6.5.0.Final",
    "org.kie:kie-api:6.5.0.Final",
    "org.kie:kie-internal:6.5.0.Final",
    "org.codehaus.jackson:jackson-core-asl:1.9.13",
    "org.codehaus.jackson:jackson-mapper-asl:1.9.13",
    "org.codehaus.jackson:jackson-xc:1.9.13",
    "javax.xml.bind:jaxb-api:2.3.1",
    "org.glassfish.jaxb:jaxb-runtime:2.3.9",
    "org.glassfish.jaxb:txw2:2.3.9",
    "com.sun.istack:istack-commons-runtime:3.0.12",
    "javax.activation:javax.activation-api:1.2.0",
    # kie-internal's map adapters log through SLF4J; the no-op binding keeps stderr quiet.
    "org.slf4j:slf4j-api:1.7.36",
    "org.slf4j:slf4j-nop:1.7.36",
)


def missing_tools() -> str | None:
    """Why the round trip cannot run here (no Java or no Maven), or None."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def wire_jars() -> Path:
    """The folder of the jars, fetched on first use."""
    # Named after the artifact list, so that a changed list fetches into a folder of its own.
    digest = hashlib.sha256("\n".join(ARTIFACTS).encode()).hexdigest()[:12]
    folder = cache_root() / f"kie-remote-6.5.0-{digest}"
    with locked(cache_root() / f"kie-remote-6.5.0-{digest}.lock"):
        if folder.is_dir():
            return folder
        scratch = Path(tempfile.mkdtemp(dir=cache_root()))
        try:
            for artifact in ARTIFACTS:
                subprocess.run(
                    [
                        "mvn",
                        "-q",
                        "-B",
                        "dependency:copy",
                        f"-Dartifact={artifact}",
                        f"-DoutputDirectory={scratch}",
                    ],
                    check=True,
                    timeout=600,
                )
            scratch.rename(folder)  # whole or not at all
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return folder


def round_trip(bodies: dict[str, str], workdir: Path) -> dict[str, str]:
    """Each body (`<kind>.xml` or `<kind>.json` -> text) as the wire classes write it back."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in bodies.items():
        (workdir / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["java", "-cp", f"{wire_jars()}/*", str(ROUND_TRIP), str(workdir)],
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"the wire classes refused a body:\n{done.stderr[-4000:]}"
    return {name: (workdir / f"{name}.out").read_text(encoding="utf-8") for name in bodies}


def same_json(ours: str, theirs: str) -> bool:
    """Equal values with keys in the same order."""
    return json.dumps(json.loads(ours)) == json.dumps(json.loads(theirs))


def same_xml(ours: str, theirs: str) -> bool:
    """The same elements in the same order with the same text, whitespace between elements
    aside (error bodies are indented, JAXB's re-marshalled ones are not)."""

    def shape(element: Element) -> tuple[Any, ...]:
        return (
            element.tag,
            sorted(element.attrib.items()),
            (element.text or "").strip(),
            [shape(child) for child in element],
        )

    return shape(ElementTree.fromstring(ours.encode())) == shape(
        ElementTree.fromstring(theirs.encode())
    )
