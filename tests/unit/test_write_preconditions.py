"""No lost update: every write call of the operator and the shim carries a precondition.

Reads the package's source: each `.patch(`, `.delete(` and PUT call on the API client must
state a resourceVersion or uid precondition (in the function that makes it, or in the module's
helper that builds its body), or be one of the reviewed writes below, each with the reason it
cannot lose another writer's change. A new write without either fails here. The client itself
offers no replace (PUT) at all.
"""

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "deployunits"
WRITES = {"patch", "delete"}
PRECONDITIONS = ("resourceVersion", "preconditions")
#: (module, function) -> why the write cannot lose data without a precondition.
REVIEWED = {
    ("k8s/_objects.py", "_write_status"): (
        "merge patch of the status subresource: the operator is its only writer, and passes "
        "of one object are serialized and skip events older than their own writes"
    ),
}


@functools.cache
def write_calls() -> list[tuple[str, str, ast.Call, str]]:
    """(module, enclosing function, call, text that states its preconditions) of every write."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module == "k8s/_transport.py":
            continue  # the transport's own methods are what is being called
        source = path.read_text()
        tree = ast.parse(source)
        helpers = {
            node.name: ast.get_source_segment(source, node) or ""
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            text = ast.get_source_segment(source, function) or ""
            for call in ast.walk(function):
                if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
                    continue
                if not _is_write(call):
                    continue
                called = [
                    helpers.get(node.func.id, "")
                    for node in ast.walk(call)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                ]
                found.append((module, function.name, call, "\n".join([text, *called])))
    return found


def _is_write(call: ast.Call) -> bool:
    assert isinstance(call.func, ast.Attribute)
    owner = ast.unparse(call.func.value)
    if "kube" not in owner:
        return False
    if call.func.attr in WRITES:
        return True
    method = call.args[0] if call.args else None
    return (
        call.func.attr == "request"
        and isinstance(method, ast.Constant)
        and method.value in ("PUT", "PATCH", "DELETE")
    )


def test_every_write_has_a_precondition_or_a_reviewed_reason() -> None:
    calls = write_calls()
    assert len(calls) >= 8, "the scan found too few writes to be looking at the right code"
    unguarded = [
        f"{module}:{call.lineno} in {function}: {ast.unparse(call)}"
        for module, function, call, text in calls
        if (module, function) not in REVIEWED and not any(word in text for word in PRECONDITIONS)
    ]
    assert not unguarded, "writes without a precondition:\n" + "\n".join(unguarded)


def test_deletes_pass_their_preconditions() -> None:
    bare = [
        f"{module}:{call.lineno} in {function}: {ast.unparse(call)}"
        for module, function, call, _ in write_calls()
        if isinstance(call.func, ast.Attribute) and call.func.attr == "delete"
        if len(call.args) < 2 and not call.keywords
    ]
    assert not bare, "deletes without DeleteOptions:\n" + "\n".join(bare)


def test_every_reviewed_write_still_exists() -> None:
    present = {(module, function) for module, function, _, _ in write_calls()}
    assert set(REVIEWED) <= present, set(REVIEWED) - present


def test_the_client_offers_no_replace() -> None:
    client = (PACKAGE / "k8s" / "_transport.py").read_text()
    assert '"PUT"' not in client
    assert "def replace" not in client and "def update" not in client
