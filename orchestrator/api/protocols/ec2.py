"""The ``ec2`` protocol, EC2's dialect of the Query protocol (botocore ``EC2Serializer`` /
``EC2QueryParser``):

- a member's wire name is ``queryName``, else the capitalised ``locationName``, else its name;
- lists are ``Name.1``, ``Name.2`` (no ``member.``);
- responses are ``<ActionResponse xmlns=...><requestId>`` with lists of ``<item>``, and errors
  are ``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.api.protocols import base
from orchestrator.api.protocols.base import Call, Protocol, WireRequest
from orchestrator.api.protocols.params import ParamParser
from orchestrator.api.protocols.xml import document, document_of, members_xml, text, xml_safe
from orchestrator.domain import errors

API_VERSION = "2016-11-15"
XMLNS = f"http://ec2.amazonaws.com/doc/{API_VERSION}/"


def service_model() -> ServiceModel:
    return base.load_model("ec2")


def input_wire_name(shape: Shape, default: str) -> str:
    ser = shape.serialization
    if "queryName" in ser:
        return ser["queryName"]
    if "name" in ser:
        name = ser["name"]
        return name[0].upper() + name[1:]
    return default


class QueryParser(ParamParser):
    """Parses EC2 Query parameters into an operation's input dict."""

    def __init__(self, model: ServiceModel | None = None) -> None:
        super().__init__(model or service_model())

    def wire_name(self, shape: Shape, default: str) -> str:
        return input_wire_name(shape, default)

    def list_items(self, shape: Shape, node: Any, path: str) -> tuple[dict[str, Any], str]:
        if not isinstance(node, dict):
            # A bare ``Name=value`` where a list is expected: EC2 accepts it as a one-item list.
            node = {"1": node}
        return node, path


class XmlSerializer:
    """Serializes handler output dicts to EC2 XML responses, following the output shapes."""

    def response(self, op: OperationModel, result: Mapping[str, Any] | None, request_id: str) -> bytes:
        shape = op.output_shape
        members = members_xml(shape, result) if shape is not None and result else ""
        return document_of(f"{op.name}Response", XMLNS, f"<requestId>{text(request_id)}</requestId>{members}")

    def error(self, err: errors.ApiError, request_id: str) -> bytes:
        root = Element("Response")
        error = SubElement(SubElement(root, "Errors"), "Error")
        SubElement(error, "Code").text = xml_safe(err.code)
        SubElement(error, "Message").text = xml_safe(err.message)
        SubElement(root, "RequestID").text = request_id
        return document(root)


class Ec2Protocol(Protocol):
    def __init__(self, model: ServiceModel | None = None) -> None:
        super().__init__(model or service_model())
        self.parser = QueryParser(self.model)
        self.serializer = XmlSerializer()

    async def read(self, request: WireRequest) -> Call:
        params = await base.query_params(request)
        return Call(base.query_action(params), params)

    def operation(self, action: str) -> OperationModel:
        return self.parser.operation(action)

    def parse(self, op: OperationModel, raw: Any) -> dict[str, Any]:
        return self.parser.parse_input(op, raw)

    def response(self, op: OperationModel, result: Mapping[str, Any] | None, request_id: str) -> bytes:
        return self.serializer.response(op, result, request_id)

    def error(self, err: errors.ApiError, request_id: str) -> bytes:
        return self.serializer.error(err, request_id)

    def not_implemented(self, action: str) -> errors.ApiError:
        return errors.ApiError(f"The action {action} is not supported by ec2d yet.", code="UnsupportedOperation")

    def unknown_service(self, service: str, served: list[str]) -> errors.ApiError:
        return errors.UnknownService(service, served)

    def denied(self, caller_arn: str, prefix: str, action: str) -> errors.ApiError:
        return errors.UnauthorizedOperation()
