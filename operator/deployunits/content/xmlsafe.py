"""Safe XML parsing of resource content: bounded size, no DTDs, entities or external references.

Everything that reads BPMN, DMN or CMMN bytes goes through `parse_xml_document`; `definitions`
and `policy` work on the element tree it returns. Failures raise `ContentError`, which carries
the resource name and, where the parser knows it, the line and column.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from xml.parsers import expat

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

__all__ = [
    "DEFAULT_MAX_XML_BYTES",
    "ContentError",
    "XmlDocument",
    "local_name",
    "namespace_of",
    "parse_xml",
    "parse_xml_document",
]

#: Upper bound on one XML resource; Modeler files are kilobytes, a few MiB is already unusual.
DEFAULT_MAX_XML_BYTES: Final = 10 * 1024 * 1024

_DTD_MESSAGE: Final = "DTDs and entity declarations are not allowed"


class ContentError(Exception):
    """A resource whose content is refused; permanent (the same bytes fail again).

    `line` is 1-based and `column` is 1-based (expat counts columns from 0; editors and the Java
    SAX parsers behind the engines' parse errors count from 1). `element_id` names the model
    element at fault, like `mainElementId` in Camunda's parse problems.
    """

    def __init__(
        self,
        resource: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        element_id: str | None = None,
    ) -> None:
        super().__init__(resource, message, line, column, element_id)
        self.resource = resource
        self.message = message
        self.line = line
        self.column = column
        self.element_id = element_id

    def __str__(self) -> str:
        where = f"resource '{self.resource}'"
        if self.line is not None:
            where += f" line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class XmlDocument:
    """A parsed resource: its root element, and its source to locate elements in on demand."""

    resource: str
    root: ET.Element
    source: bytes

    def position_of(self, element: ET.Element) -> tuple[int | None, int | None]:
        """The 1-based line and column of the element's start tag, if it came from this source.

        Positions are needed only for error messages, so they are found by parsing the source
        again with a recording builder (recording them always made every parse 3x slower).
        """
        order = next((i for i, e in enumerate(self.root.iter()) if e is element), None)
        if order is None:
            return None, None
        builder = _PositionRecordingBuilder()
        parser = DefusedXMLParser(
            target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        builder.expat_parser = parser.parser
        parser.feed(self.source)
        again = parser.close()
        twin = next((e for i, e in enumerate(again.iter()) if i == order), None)
        position = builder.positions.get(twin) if twin is not None else None
        return position if position is not None else (None, None)

    def tag_ends(self, orders: Iterable[int]) -> dict[int, tuple[int, int]]:
        """The 1-based line and column just after the start tags of the elements at the given
        places in document order (`root.iter()`), where SAX parsers (and so the engines' parse
        errors) place an element's problems. Found by parsing the source again, so only for
        error messages; one pass over the source for any number of elements.
        """
        builder = _PositionRecordingBuilder()
        parser = DefusedXMLParser(
            target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        builder.expat_parser = parser.parser
        parser.feed(self.source)
        parser.close()
        wanted = sorted({o for o in orders if 0 <= o < len(builder.offsets)})
        ends: dict[int, tuple[int, int]] = {}
        line, line_start, counted = 1, 0, 0
        for order in wanted:
            end = _end_of_tag(self.source, builder.offsets[order])
            line += self.source.count(b"\n", counted, end)
            newline = self.source.rfind(b"\n", counted, end)
            line_start = newline + 1 if newline >= 0 else line_start
            counted = end
            column = len(self.source[line_start:end].decode("utf-8", "replace")) + 1
            ends[order] = (line, column)
        return ends

    def error(
        self, message: str, element: ET.Element | None = None, *, element_id: str | None = None
    ) -> ContentError:
        """A `ContentError` for this resource, located at `element` when one is given."""
        line, column = self.position_of(element) if element is not None else (None, None)
        return ContentError(self.resource, message, line=line, column=column, element_id=element_id)


class _PositionRecordingBuilder(ET.TreeBuilder):
    """A tree builder that notes the start-tag position of every element it creates."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: dict[ET.Element, tuple[int, int]] = {}
        #: The byte offset of each start tag, in document order.
        self.offsets: list[int] = []
        self.expat_parser: Any = None

    def start(self, tag: Any, attrs: dict[Any, Any], /) -> ET.Element:
        element = super().start(tag, attrs)
        if self.expat_parser is not None:
            self.positions[element] = (
                self.expat_parser.CurrentLineNumber,
                self.expat_parser.CurrentColumnNumber + 1,
            )
            self.offsets.append(self.expat_parser.CurrentByteIndex)
        return element


def _end_of_tag(source: bytes, offset: int) -> int:
    """The byte offset just after the tag that starts at `offset` (quoted attribute values
    may hold '>')."""
    end, quote = offset, 0
    while end < len(source):
        byte = source[end]
        if quote:
            quote = 0 if byte == quote else quote
        elif byte in b"\"'":
            quote = byte
        elif byte == ord(">"):
            return end + 1
        end += 1
    return len(source)


def parse_xml_document(
    data: bytes, resource_name: str, *, max_bytes: int = DEFAULT_MAX_XML_BYTES
) -> XmlDocument:
    """Parse `data` with DTDs, entity declarations and external references forbidden."""
    if len(data) > max_bytes:
        raise ContentError(
            resource_name,
            f"content is {len(data)} bytes, more than the limit of {max_bytes} bytes for XML",
        )
    if _without_dtd(data):
        fast = ET.XMLParser(target=ET.TreeBuilder())
        try:
            fast.feed(data)
            return XmlDocument(resource=resource_name, root=fast.close(), source=data)
        except (ET.ParseError, LookupError, ValueError):
            pass  # the guarded parser below finds the same fault and words it
    # defusedxml's parser defaults to the pure-Python tree builder; the C one is much faster.
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as error:
        error_line, error_column = error.position
        raise ContentError(
            resource_name,
            expat.ErrorString(error.code),
            line=error_line,
            column=error_column + 1,
        ) from None
    except (DTDForbidden, EntitiesForbidden) as error:
        line, column = _current_position(parser.parser)
        raise ContentError(resource_name, _DTD_MESSAGE, line=line, column=column) from error
    except ExternalReferenceForbidden as error:
        line, column = _current_position(parser.parser)
        raise ContentError(
            resource_name, "external references are not allowed", line=line, column=column
        ) from error
    except LookupError as error:
        # An XML declaration naming an encoding Python does not know.
        raise ContentError(resource_name, f"unsupported encoding: {error}") from None
    except ValueError as error:
        # expat refuses multi-byte encodings other than UTF-8 and UTF-16 (Shift_JIS, EUC-JP...).
        raise ContentError(resource_name, f"unsupported encoding: {error}") from None
    return XmlDocument(resource=resource_name, root=root, source=data)


#: Encodings in which every ASCII character is the same single byte.
_ASCII_COMPATIBLE: Final = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "iso8859-1", "latin-1", "latin1"}
)
_ENCODING_DECLARATION: Final = re.compile(
    rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.IGNORECASE
)
_UTF8_BOM: Final = b"\xef\xbb\xbf"


def _without_dtd(data: bytes) -> bool:
    """Whether the bytes provably hold no DTD, so the C parser (4x faster) may read them.

    A DTD is the only way to declare entities, and in an ASCII-compatible encoding it cannot
    exist without the literal bytes `<!DOCTYPE`. Anything else (UTF-16, other declared
    encodings, a DOCTYPE anywhere, even in a comment) goes through defusedxml's parser.
    """
    body = data.removeprefix(_UTF8_BOM)
    if not body.lstrip(b" \t\r\n").startswith(b"<") or b"<!DOCTYPE" in body:
        return False
    if not body.lstrip(b" \t\r\n").startswith(b"<?xml"):
        return True
    declaration = _ENCODING_DECLARATION.match(body.lstrip(b" \t\r\n"))
    if declaration is None:
        return b"encoding" not in body[: body.find(b"?>") + 2]
    return declaration.group(1).decode("ascii").lower() in _ASCII_COMPATIBLE


def parse_xml(
    data: bytes, resource_name: str, *, max_bytes: int = DEFAULT_MAX_XML_BYTES
) -> ET.Element:
    """Parse `data` safely (see `parse_xml_document`) and return the root element."""
    return parse_xml_document(data, resource_name, max_bytes=max_bytes).root


def namespace_of(tag: str) -> str:
    """The namespace URI of an ElementTree tag or attribute name (`{uri}local`), or ''."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def local_name(tag: str) -> str:
    """The local part of an ElementTree tag or attribute name."""
    return tag.rpartition("}")[2]


def _current_position(expat_parser: Any) -> tuple[int | None, int | None]:
    try:
        return int(expat_parser.CurrentLineNumber), int(expat_parser.CurrentColumnNumber) + 1
    except (AttributeError, TypeError, ValueError):
        return None, None
