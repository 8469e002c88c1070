"""EC2 errors: each carries its AWS code, HTTP status and message; raised deep, serialized once.

Codes and message shapes follow the EC2 API reference ("Error codes for the Amazon EC2 API").
"""

from __future__ import annotations


class ApiError(Exception):
    """An error an AWS API returns to the client with its code and HTTP status; each protocol puts
    it in its own envelope (EC2's ``<Response><Errors><Error>``, query's ``<ErrorResponse>``, JSON's
    ``__type``)."""

    code = "InternalError"
    status = 400

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __repr__(self) -> str:
        return f"ApiError({self.code!r}, {self.message!r})"


class InternalError(ApiError):
    code = "InternalError"
    status = 500

    def __init__(self, message: str = "An internal error has occurred") -> None:
        super().__init__(message)


class InvalidAction(ApiError):
    code = "InvalidAction"

    def __init__(self, action: str) -> None:
        super().__init__(f"The action {action} is not valid for this web service.")


class MissingParameter(ApiError):
    code = "MissingParameter"

    def __init__(self, name: str) -> None:
        super().__init__(f"The request must contain the parameter {name}")


class UnknownParameter(ApiError):
    code = "UnknownParameter"

    def __init__(self, name: str) -> None:
        super().__init__(f"The parameter {name} is not recognized")


class InvalidParameterValue(ApiError):
    code = "InvalidParameterValue"

    @classmethod
    def for_param(cls, name: str, value: object, reason: str = "") -> InvalidParameterValue:
        """EC2's shape: ``Value (X) for parameter groupId is invalid. The value cannot be empty``."""
        text = f"Value ({value}) for parameter {name} is invalid."
        return cls(f"{text} {reason}".strip())


class InvalidParameterCombination(ApiError):
    code = "InvalidParameterCombination"


class InvalidParameter(ApiError):
    code = "InvalidParameter"


class InvalidFilter(ApiError):
    code = "InvalidParameterValue"

    def __init__(self, name: str) -> None:
        super().__init__(f"The filter '{name}' is invalid")


class FilterLimitExceeded(ApiError):
    code = "FilterLimitExceeded"


class InvalidPaginationToken(ApiError):
    code = "InvalidPaginationToken"

    def __init__(self, token: str) -> None:
        super().__init__(f"Invalid pagination token: {token}")


class DryRunOperation(ApiError):
    code = "DryRunOperation"
    status = 412

    def __init__(self) -> None:
        super().__init__("Request would have succeeded, but DryRun flag is set.")


class UnauthorizedOperation(ApiError):
    code = "UnauthorizedOperation"
    status = 403

    def __init__(self, detail: str = "") -> None:
        # detail: IAM's "User: ... is not authorized ... Encoded authorization failure message: ..."
        super().__init__("You are not authorized to perform this operation." + (f" {detail}" if detail else ""))


class RequestEntityTooLarge(ApiError):
    """A body over the API's size cap: ``413`` in EC2's envelope (EC2 documents no code of its own
    for this; the name and message follow other AWS Query/JSON services' 413 answers)."""

    code = "RequestEntityTooLarge"
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request must be smaller than {limit} bytes.")


class AuthFailure(ApiError):
    code = "AuthFailure"
    status = 401


class NotFound(ApiError):
    """``Invalid<Resource>ID.NotFound`` and friends; the code is given by the resource kind."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class Malformed(ApiError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class Duplicate(ApiError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class IncorrectState(ApiError):
    code = "IncorrectState"


class IncorrectInstanceState(ApiError):
    code = "IncorrectInstanceState"


class DependencyViolation(ApiError):
    code = "DependencyViolation"


class TagLimitExceeded(ApiError):
    code = "TagLimitExceeded"


class ResourceLimitExceeded(ApiError):
    code = "ResourceLimitExceeded"


class InsufficientInstanceCapacity(ApiError):
    code = "InsufficientInstanceCapacity"
    status = 500


class Unsupported(ApiError):
    code = "Unsupported"


class ServiceUnavailable(ApiError):
    """A temporary condition of the host (its state store's disk is full or failing): the
    request changed nothing and may be retried (SDKs retry 503 by themselves)."""

    code = "ServiceUnavailable"
    status = 503


class InsufficientVolumeCapacity(ApiError):
    """Not enough storage on the host for the volumes asked for (EC2: not enough EBS capacity)."""

    code = "InsufficientVolumeCapacity"
    status = 500


# ---- one endpoint, several services: errors of the Query and JSON protocols and their services


class UnknownService(ApiError):
    """A credential scope naming a service ec2d does not serve: the unknown-action code of the
    protocol the request speaks (Query: ``InvalidAction``, 400)."""

    code = "InvalidAction"

    def __init__(self, service: str, served: list[str]) -> None:
        super().__init__(f"The service {service} is not served by this endpoint "
                         f"(it serves {', '.join(served)}).")


class OperationNotFound(ApiError):
    """An action a Query service (IAM, STS, ...) does not have: AWS's answer, 400."""

    code = "InvalidAction"

    def __init__(self, action: str, version: str) -> None:
        super().__init__(f"Could not find operation {action} for version {version}")


class UnknownOperation(ApiError):
    """JSON protocol: an ``X-Amz-Target`` the service does not have (or a service ec2d does not
    serve), as AWS's JSON services answer it (``UnknownOperationException``, 400)."""

    code = "UnknownOperationException"


class SerializationException(ApiError):
    """JSON protocol: a body that is not JSON, or a member of the wrong type."""

    code = "SerializationException"


class ValidationException(ApiError):
    """JSON protocol: a value outside its shape's constraints (a required member missing, ...)."""

    code = "ValidationException"


class AccessDenied(ApiError):
    """Query services (STS, IAM, ...): the caller may not call the action."""

    code = "AccessDenied"
    status = 403

    def __init__(self, caller_arn: str, prefix: str, action: str) -> None:
        super().__init__(f"User: {caller_arn} is not authorized to perform: {prefix}:{action}")


class AccessDeniedException(ApiError):
    """JSON services (Cost Explorer, Price List, ...): the caller may not call the action."""

    code = "AccessDeniedException"

    def __init__(self, caller_arn: str, prefix: str, action: str) -> None:
        super().__init__(f"User: {caller_arn} is not authorized to perform: {prefix}:{action}")


class NotFoundException(ApiError):
    """Price List: a service code or attribute name it does not know."""

    code = "NotFoundException"


class InvalidNextTokenException(ApiError):
    """Price List (and other JSON services): a pagination token it did not issue."""

    code = "InvalidNextTokenException"


class InvalidParameterException(ApiError):
    """Price List: a parameter value it refuses."""

    code = "InvalidParameterException"


# ---- IAM and STS (query protocol): codes and statuses as botocore's iam/sts models declare them


class NoSuchEntity(ApiError):
    """IAM: a user, role, policy, instance profile or access key that does not exist (404)."""

    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(ApiError):
    code = "EntityAlreadyExists"
    status = 409


class DeleteConflict(ApiError):
    """IAM: an entity still in use (a role in a profile or with policies, a user with keys)."""

    code = "DeleteConflict"
    status = 409


class LimitExceeded(ApiError):
    code = "LimitExceeded"
    status = 409


class MalformedPolicyDocument(ApiError):
    code = "MalformedPolicyDocument"


class ValidationError(ApiError):
    """IAM and STS: a value outside the operation's constraints (name pattern, length, range)."""

    code = "ValidationError"


class InvalidInput(ApiError):
    code = "InvalidInput"


class ExpiredToken(ApiError):
    """STS session credentials past their expiration (botocore refreshes on this code)."""

    code = "ExpiredToken"
    status = 403

    def __init__(self) -> None:
        super().__init__("The security token included in the request is expired")


class AccessDeniedOn(AccessDenied):
    """Query services: the caller may not call the action on a resource (IAM's and STS's wording)."""

    def __init__(self, caller_arn: str, action: str, resource: str, reason: str = "") -> None:
        ApiError.__init__(self, f"User: {caller_arn} is not authorized to perform: {action} on resource: "
                          f"{resource}" + (f" {reason}" if reason else ""))


class InvalidAuthorizationMessageException(ApiError):
    """STS DecodeAuthorizationMessage: the message is not one this account's ec2d encoded."""

    code = "InvalidAuthorizationMessageException"

    def __init__(self) -> None:
        super().__init__("The message passed to DecodeAuthorizationMessage is not valid.")


# ---- EC2 launch templates (codes as EC2 returns them; messages as the AWS CLI shows them where
# known, else moto's wording)


class LaunchTemplateNameMalformed(ApiError):
    code = "InvalidLaunchTemplateName.MalformedException"

    def __init__(self) -> None:
        super().__init__("A launch template name must be between 3 and 128 characters, and may contain letters, "
                         "numbers, and the following characters: - ( ) . / _.")


class LaunchTemplateNameInUse(ApiError):
    code = "InvalidLaunchTemplateName.AlreadyExistsException"

    def __init__(self) -> None:
        super().__init__("Launch template name already in use.")


class LaunchTemplateNameNotFound(ApiError):
    code = "InvalidLaunchTemplateName.NotFoundException"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(f"The specified launch template, with template name {name}, does not exist." if name else
                         "At least one of the launch templates specified in the request does not exist.")


class LaunchTemplateIdNotFound(NotFound):
    def __init__(self, template_id: str) -> None:
        super().__init__("InvalidLaunchTemplateId.NotFound",
                         f"The specified launch template, with template ID {template_id}, does not exist.")


class LaunchTemplateVersionNotFound(ApiError):
    code = "InvalidLaunchTemplateId.VersionNotFound"

    def __init__(self, version: str, template_id: str | None = None) -> None:
        super().__init__(
            f"Could not find the specified version {version} for the launch template with ID {template_id}."
            if template_id else f"The launch template version {version} is not found for the specified launch template.")


# ---- Elastic Load Balancing v2 (query protocol): codes and statuses as botocore's elbv2 model
# declares them (every one a 400 sender fault); ``ValidationError`` (above) for values outside the
# operation's constraints


class ElbError(ApiError):
    """An ELBv2 error: its class carries the model's code; the message says what was wrong."""


class LoadBalancerNotFound(ElbError):
    code = "LoadBalancerNotFound"


class TargetGroupNotFound(ElbError):
    code = "TargetGroupNotFound"


class ListenerNotFound(ElbError):
    code = "ListenerNotFound"


class RuleNotFound(ElbError):
    code = "RuleNotFound"


class DuplicateLoadBalancerName(ElbError):
    code = "DuplicateLoadBalancerName"


class DuplicateTargetGroupName(ElbError):
    code = "DuplicateTargetGroupName"


class DuplicateListener(ElbError):
    code = "DuplicateListener"


class DuplicateTagKeys(ElbError):
    code = "DuplicateTagKeys"


class PriorityInUse(ElbError):
    code = "PriorityInUse"


class InvalidTarget(ElbError):
    code = "InvalidTarget"


class ResourceInUse(ElbError):
    code = "ResourceInUse"


class TargetGroupAssociationLimit(ElbError):
    code = "TargetGroupAssociationLimit"


class InvalidConfigurationRequest(ElbError):
    code = "InvalidConfigurationRequest"


class SubnetNotFound(ElbError):
    code = "SubnetNotFound"


class InvalidSubnet(ElbError):
    code = "InvalidSubnet"


class InvalidSecurityGroup(ElbError):
    code = "InvalidSecurityGroup"


class InvalidScheme(ElbError):
    code = "InvalidScheme"


class TooManyTargets(ElbError):
    code = "TooManyTargets"


class TooManyTags(ElbError):
    code = "TooManyTags"


class IncompatibleProtocols(ElbError):
    code = "IncompatibleProtocols"


class UnsupportedProtocol(ElbError):
    code = "UnsupportedProtocol"


class InvalidLoadBalancerAction(ElbError):
    code = "InvalidLoadBalancerAction"


class OperationNotPermitted(ElbError):
    code = "OperationNotPermitted"


# ---- EC2 Auto Scaling (codes of botocore's ``autoscaling`` model; messages as AWS words them)


class AsgValidationError(ApiError):
    code = "ValidationError"


class AsgAlreadyExists(ApiError):
    code = "AlreadyExists"


class AsgResourceInUse(ApiError):
    code = "ResourceInUse"


class AsgScalingActivityInProgress(ApiError):
    code = "ScalingActivityInProgress"


class AsgLimitExceeded(ApiError):
    code = "LimitExceeded"


class AsgInvalidNextToken(ApiError):
    code = "InvalidNextToken"


def asg_not_found(name: str) -> AsgValidationError:
    return AsgValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")


def asg_instance_not_found(instance_id: str) -> AsgValidationError:
    return AsgValidationError(f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
