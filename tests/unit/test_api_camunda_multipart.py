"""multipart/form-data of a Camunda deployment upload: parts, file names, booleans, errors."""

import pytest

from deployunits.api.camunda.errors import CamundaError
from deployunits.api.camunda.multipart import MultipartError, create_form, parse_form

BOUNDARY = "XyZ"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(
    name: str, body: bytes, filename: str | None = None, content_type: str | None = None
) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    headers = f"Content-Disposition: {disposition}\r\n"
    if content_type:
        headers += f"Content-Type: {content_type}\r\n"
    return f"--{BOUNDARY}\r\n{headers}\r\n".encode() + body + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def test_parts_by_field_name_with_file_names_and_types() -> None:
    parts = parse_form(
        CONTENT_TYPE,
        form(
            part("deployment-name", b"invoice"),
            part("data", b"<bpmn/>", "invoice.bpmn", "application/octet-stream"),
        ),
    )
    assert parts["deployment-name"].text == "invoice"
    assert parts["data"].filename == "invoice.bpmn"
    assert parts["data"].content == b"<bpmn/>"
    assert parts["data"].text is None


def test_resource_name_is_the_file_name_and_a_repeated_field_keeps_the_last() -> None:
    result = create_form(
        CONTENT_TYPE,
        form(
            part("deployment-name", b"n"),
            part("data", b"first", "one.bpmn"),
            part("data", b"second", "two.bpmn"),
            part("other", b"x", "dir/three.dmn"),
            part("again", b"y", "dir/three.dmn"),
        ),
    )
    assert result.name == "n"
    assert result.resources == (("two.bpmn", b"second"), ("dir/three.dmn", b"y"))


@pytest.mark.parametrize(
    ("filtering", "changed", "expected"),
    [
        ("TRUE", None, (True, False)),
        ("True", "False", (True, False)),
        ("yes", None, (False, False)),
        (None, "true", (True, True)),
        ("false", "tRuE", (True, True)),
        (None, None, (False, False)),
    ],
)
def test_booleans_are_case_insensitive_and_changed_only_overrides(
    filtering: str | None, changed: str | None, expected: tuple[bool, bool]
) -> None:
    parts = [part("r", b"<x/>", "a.bpmn")]
    if filtering is not None:
        parts.append(part("enable-duplicate-filtering", filtering.encode()))
    if changed is not None:
        parts.append(part("deploy-changed-only", changed.encode()))
    result = create_form(CONTENT_TYPE, form(*parts))
    assert (result.enable_duplicate_filtering, result.deploy_changed_only) == expected


def test_text_parts_need_no_type_or_text_plain() -> None:
    result = create_form(
        CONTENT_TYPE,
        form(
            part("deployment-name", b"n", content_type="application/json"),
            part(
                "deployment-source", "quelle-ü".encode(), content_type="text/plain; charset=UTF-8"
            ),
            part("tenant-id", b""),
            part("r", b"<x/>", "a.bpmn"),
        ),
    )
    assert result.name is None
    assert result.source == "quelle-ü"
    assert result.tenant_id is None


def test_errors() -> None:
    with pytest.raises(CamundaError) as no_file:
        create_form(CONTENT_TYPE, form(part("deployment-name", b"n"), part("r", b"<x/>")))
    assert no_file.value.body() == {
        "type": "InvalidRequestException",
        "message": "No file name found in the deployment resource described by form parameter "
        "'null'.",
        "code": None,
    }
    with pytest.raises(CamundaError) as nothing:
        create_form(CONTENT_TYPE, form(part("deployment-name", b"n")))
    assert nothing.value.message == "No deployment resources contained in the form upload."
    for broken in (form(part("r", b"x", "a.bpmn"))[:-10], b"garbage"):
        with pytest.raises(CamundaError) as bad:
            create_form(CONTENT_TYPE, broken)
        assert bad.value.body() == {
            "type": "RestException",
            "message": "multipart/form-data cannot be processed",
            "code": None,
        }
    with pytest.raises(CamundaError) as no_boundary:
        create_form("multipart/form-data", form(part("r", b"x", "a.bpmn")))
    assert no_boundary.value.status == 400
    with pytest.raises(CamundaError) as bad_time:
        create_form(
            CONTENT_TYPE,
            form(part("deployment-activation-time", b"tomorrow"), part("r", b"x", "a.bpmn")),
        )
    assert bad_time.value.status == 400


def test_activation_time_and_unicode_file_names() -> None:
    result = create_form(
        CONTENT_TYPE,
        form(
            part("deployment-activation-time", b"2030-01-01T10:00:00+01:00"),
            part("r", b"x", "prozess-ä.bpmn"),
        ),
    )
    assert result.activation_time == "2030-01-01T10:00:00+01:00"
    assert result.resources[0][0] == "prozess-ä.bpmn"


def test_parse_form_refuses_other_types() -> None:
    with pytest.raises(MultipartError):
        parse_form("application/json", b"{}")
