"""multipart/form-data of POST /deployment/create, read the way Camunda's MultipartFormData does."""

from dataclasses import dataclass, field
from datetime import datetime

from python_multipart.multipart import MultipartParser

from deployunits.api.camunda.errors import invalid_request, rest_exception

DEPLOYMENT_NAME = "deployment-name"
DEPLOYMENT_ACTIVATION_TIME = "deployment-activation-time"
ENABLE_DUPLICATE_FILTERING = "enable-duplicate-filtering"
DEPLOY_CHANGED_ONLY = "deploy-changed-only"
DEPLOYMENT_SOURCE = "deployment-source"
TENANT_ID = "tenant-id"
RESERVED = frozenset(
    {
        DEPLOYMENT_NAME,
        DEPLOYMENT_ACTIVATION_TIME,
        ENABLE_DUPLICATE_FILTERING,
        DEPLOY_CHANGED_ONLY,
        DEPLOYMENT_SOURCE,
        TENANT_ID,
    }
)


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class FormPart:
    """One part of the form."""

    field_name: str
    filename: str | None
    content_type: str | None
    content: bytes

    @property
    def text(self) -> str | None:
        """The part as text: only without a Content-Type or with text/plain (else null)."""
        if self.content_type is None or "text/plain" in self.content_type:
            return self.content.decode("utf-8", "replace")
        return None


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """A header value and its `;`-separated parameters (quoted strings honoured)."""
    segments: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == ";" and not quoted:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    head, *rest = segments
    params: dict[str, str] = {}
    for segment in rest:
        key, sep, raw = segment.partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
            raw = raw[1:-1]
        params.setdefault(key.strip().lower(), raw)
    return head.strip().lower(), params


@dataclass
class _Collector:
    parts: dict[str, FormPart] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    data: bytearray = field(default_factory=bytearray)
    finished: bool = False

    def on_part_begin(self) -> None:
        self.headers = {}
        self.data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = _decode(bytes(self.header_field)).strip().lower()
        self.headers[name] = _decode(bytes(self.header_value)).strip()
        self.header_field = bytearray()
        self.header_value = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.data += data[start:end]

    def on_part_end(self) -> None:
        disposition, params = header_params(self.headers.get("content-disposition", ""))
        filename = params.get("filename")
        name = params.get("name", "") if disposition in ("form-data", "attachment") else ""
        part = FormPart(
            field_name=name,
            filename=filename.strip() if filename is not None else None,
            content_type=self.headers.get("content-type"),
            content=bytes(self.data),
        )
        # A repeated field keeps the last part (a map keyed by field name).
        self.parts[name] = part

    def on_end(self) -> None:
        self.finished = True


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_form(content_type: str, body: bytes) -> dict[str, FormPart]:
    """The parts of a multipart/form-data body by field name; MultipartError if malformed."""
    kind, params = header_params(content_type)
    if kind != "multipart/form-data":
        raise MultipartError(f"not multipart/form-data: {kind!r}")
    boundary = params.get("boundary")
    if not boundary:
        raise MultipartError("the multipart boundary is missing")
    collector = _Collector()
    callbacks = {
        "on_part_begin": collector.on_part_begin,
        "on_part_data": collector.on_part_data,
        "on_part_end": collector.on_part_end,
        "on_header_field": collector.on_header_field,
        "on_header_value": collector.on_header_value,
        "on_header_end": collector.on_header_end,
        "on_end": collector.on_end,
    }
    try:
        parser = MultipartParser(boundary.encode("latin-1", "replace"), callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except Exception as error:  # the parser raises several kinds; all mean a broken body
        raise MultipartError(str(error)) from error
    if not collector.finished:
        raise MultipartError("the body ends before the closing boundary")
    return collector.parts


@dataclass(frozen=True)
class CreateForm:
    """What POST /deployment/create asks for."""

    name: str | None
    source: str | None
    tenant_id: str | None
    enable_duplicate_filtering: bool
    deploy_changed_only: bool
    activation_time: str | None
    #: (resource name, content), one per distinct name, in form order.
    resources: tuple[tuple[str, bytes], ...]


def _parse_boolean(part: FormPart | None) -> bool:
    """Boolean.parseBoolean: case-insensitive `true`, anything else (or null) false."""
    text = part.text if part is not None else None
    return text is not None and text.lower() == "true"


def create_form(content_type: str, body: bytes) -> CreateForm:
    """Read the form as DeploymentRestServiceImpl does; Camunda's 400s for a bad one."""
    try:
        parts = parse_form(content_type, body)
    except MultipartError:
        raise rest_exception(400, "multipart/form-data cannot be processed") from None
    resources: dict[str, bytes] = {}
    for field_name, part in parts.items():
        if field_name in RESERVED:
            continue
        if not part.filename:
            # Camunda prints the file name (null) here, not the field name.
            raise invalid_request(
                400,
                "No file name found in the deployment resource described by form parameter 'null'.",
            )
        resources.pop(part.filename, None)
        resources[part.filename] = part.content

    def text(name: str) -> str | None:
        part = parts.get(name)
        return part.text if part is not None else None

    if not resources:
        raise invalid_request(400, "No deployment resources contained in the form upload.")
    activation = text(DEPLOYMENT_ACTIVATION_TIME)
    if activation:
        try:
            datetime.fromisoformat(activation)
        except ValueError:
            # Joda's message; the engine answers 500 here, a client error is the honest status.
            raise invalid_request(400, f'Invalid format: "{activation}"') from None
    changed_only = _parse_boolean(parts.get(DEPLOY_CHANGED_ONLY))
    return CreateForm(
        name=text(DEPLOYMENT_NAME),
        source=text(DEPLOYMENT_SOURCE),
        tenant_id=text(TENANT_ID) or None,
        # deploy-changed-only overrides enable-duplicate-filtering.
        enable_duplicate_filtering=changed_only
        or _parse_boolean(parts.get(ENABLE_DUPLICATE_FILTERING)),
        deploy_changed_only=changed_only,
        activation_time=activation or None,
        resources=tuple(resources.items()),
    )
