"""The ``query`` protocol (IAM, STS, Elastic Load Balancing v2, Auto Scaling; botocore
``QuerySerializer`` / ``QueryParser``):

- a member's wire name is its ``locationName``, else its name; lists are ``Name.member.1`` (or the
  list member's own name), flattened lists ``Name.1``, an empty list ``Name=``; maps
  ``Name.entry.1.key`` / ``.value``;
- responses are ``<ActionResponse xmlns=...><ActionResult>...</ActionResult><ResponseMetadata>
  <RequestId/></ResponseMetadata></ActionResponse>`` (the result element is the output shape's
  ``resultWrapper``);
- errors are ``<ErrorResponse xmlns=...><Error><Type>Sender</Type><Code/><Message/></Error>
  <RequestId/></ErrorResponse>`` (``Receiver`` for a fault of the server). An action the service
  does not have is ``400 InvalidAction`` "Could not find operation X for version Y" (the Query
  "Common Errors" list ``InvalidAction`` as 400; the message is STS's wording, as emulators of its
  API such as s3proxy reproduce it); signature errors use the Query services' codes
  (``InvalidClientTokenId`` 403 for an unknown key, ``SignatureDoesNotMatch`` 403).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.api.protocols.base import AuthCodes, Call, Protocol, WireRequest, query_action, query_params
from orchestrator.api.protocols.params import ParamParser, shown
from orchestrator.api.protocols.xml import document, document_of, element, members_xml, text, xml_safe
from orchestrator.domain import errors

INVALID_TOKEN = "The security token included in the request is invalid."
# Services that answer a value outside the model's constraints (a missing member, a number out of
# range) with ``ValidationError`` ("1 validation error detected: ..."), as IAM and STS do
VALIDATION_ERROR_SERVICES = frozenset({"iam", "sts", "elasticloadbalancing", "autoscaling"})


class QueryParams(ParamParser):
    """Flat Query parameters in the ``query`` protocol's naming."""

    def wire_name(self, shape: Shape, default: str) -> str:
        if shape.type_name == "list" and shape.serialization.get("flattened"):
            return shape.member.serialization.get("name", shape.serialization.get("name", default))
        return shape.serialization.get("name", default)

    def list_items(self, shape: Shape, node: Any, path: str) -> tuple[dict[str, Any], str]:
        if node == "" or (isinstance(node, dict) and list(node) == [""] and node[""] == ""):
            return {}, path  # ``Name=``: the query protocol's empty list
        name = shape.member.serialization.get("name", "member")
        if not isinstance(node, dict):
            raise errors.InvalidParameterValue.for_param(path, shown(node), f"Expected a list ({path}.{name}.N).")
        if shape.serialization.get("flattened"):
            return node, path
        extra = [k for k in node if k != name or not isinstance(node[k], dict)]
        if extra or name not in node:
            raise errors.UnknownParameter(f"{path}.{(extra or [name])[0]}")
        return node[name], f"{path}.{name}"

    def unknown_action(self, action: str) -> errors.ApiError:
        return errors.OperationNotFound(action, self.model.api_version)


class QueryProtocol(Protocol):
    auth_codes: AuthCodes = {
        "AuthFailure": ("InvalidClientTokenId", 403, INVALID_TOKEN),
        "MissingAuthenticationToken": ("MissingAuthenticationToken", 403, "Request is missing Authentication Token"),
    }

    def __init__(self, model: ServiceModel | None) -> None:
        super().__init__(model)
        self.params = QueryParams(model) if model is not None else None
        self.xmlns = model.metadata.get("xmlNamespace") if model is not None else None

    def _parser(self) -> QueryParams:
        if self.params is None:
            raise errors.InternalError("no model")
        return self.params

    async def read(self, request: WireRequest) -> Call:
        params = await query_params(request)
        return Call(query_action(params), params)

    def operation(self, action: str) -> OperationModel:
        return self._parser().operation(action)

    def parse(self, op: OperationModel, raw: Any) -> dict[str, Any]:
        try:
            return self._parser().parse_input(op, raw)
        except (errors.MissingParameter, errors.InvalidParameterValue) as exc:
            if self.model is not None and self.model.signing_name in VALIDATION_ERROR_SERVICES:
                raise errors.ValidationError(exc.message) from None
            raise

    def _root(self, tag: str) -> Element:
        return Element(tag, {"xmlns": self.xmlns} if self.xmlns else {})

    def response(self, op: OperationModel, result: Mapping[str, Any] | None, request_id: str) -> bytes:
        shape = op.output_shape
        inner = ""
        if shape is not None:
            members = members_xml(shape, result) if result else ""
            wrapper = shape.serialization.get("resultWrapper")
            inner = element(wrapper, members) if wrapper else members
        metadata = f"<ResponseMetadata><RequestId>{text(request_id)}</RequestId></ResponseMetadata>"
        return document_of(f"{op.name}Response", self.xmlns, inner + metadata)

    def error(self, err: errors.ApiError, request_id: str) -> bytes:
        root = self._root("ErrorResponse")
        error = SubElement(root, "Error")
        SubElement(error, "Type").text = "Receiver" if err.status >= 500 else "Sender"
        SubElement(error, "Code").text = xml_safe(err.code)
        SubElement(error, "Message").text = xml_safe(err.message)
        SubElement(root, "RequestId").text = request_id
        return document(root)

    def not_implemented(self, action: str) -> errors.ApiError:
        return errors.ApiError(f"The action {action} is not supported by ec2d yet.", code="InvalidAction")

    def unknown_service(self, service: str, served: list[str]) -> errors.ApiError:
        return errors.UnknownService(service, served)

    def denied(self, caller_arn: str, prefix: str, action: str) -> errors.ApiError:
        return errors.AccessDenied(caller_arn, prefix, action)
