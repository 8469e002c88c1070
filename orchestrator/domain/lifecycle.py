"""Every stateful resource's lifecycle as data, and the one function that applies it.

A ``Lifecycle`` lists the states a resource may be created in and every move it may make. The
store asks :func:`check_move` before each compare-and-swap of a resource's state and
:func:`check_initial` before each insert, so a move a table does not list is refused everywhere
(``IllegalTransition``), not merely left unchecked. Attachments (a volume's ``Attachments[].State``)
live inside their volume's record and move through :func:`move_attachment`.

State names are EC2's (``describe-volumes`` ``State``, ``describe-images`` ``State`` ...). Where
ec2d keeps a record after EC2 forgets it (a deleted snapshot whose layer another volume still reads)
the extra state is internal and never shown: the services filter it out of every Describe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.domain.prefix_lists import PrefixListState
from orchestrator.domain.states import INSTANCE_TRANSITIONS, VOLUME_TRANSITIONS, InstanceState, VolumeState
from orchestrator.domain.vpc_endpoints import VpcEndpointState
from orchestrator.domain.vpc_peering import VpcPeeringState


class IllegalTransition(ValueError):
    """A state change the resource's lifecycle does not list (a programming error, never user input)."""


class SnapshotState(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    ERROR = "error"
    DELETED = "deleted"  # internal: hidden from Describe, kept while a volume or AMI builds on its layer


class ImageState(StrEnum):
    PENDING = "pending"  # registered, its layer not yet in storage (cannot be launched)
    AVAILABLE = "available"
    FAILED = "failed"
    DEREGISTERED = "deregistered"


class EniState(StrEnum):
    AVAILABLE = "available"
    IN_USE = "in-use"


class AttachmentState(StrEnum):
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    BUSY = "busy"  # the guest did not release the disk: the volume stays in-use (never two writers)
    DETACHED = "detached"  # the attachment is gone: what DetachVolume's answer may end with


class NatGatewayState(StrEnum):
    """A NAT gateway's ``State``, as EC2's."""

    PENDING = "pending"
    AVAILABLE = "available"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"  # still shown by DescribeNatGateways for a while, as on EC2


class LoadBalancerState(StrEnum):
    """An ELBv2 load balancer's ``State.Code``."""

    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"


AVAILABLE = "available"  # the one state of resources that never change state (VPC, subnet, ...)


@dataclass(frozen=True)
class Lifecycle:
    resource: str
    initial: frozenset[str]
    moves: Mapping[str, frozenset[str]]

    def allows(self, current: str, target: str) -> bool:
        return target in self.moves.get(current, frozenset())

    def check(self, current: str, target: str) -> None:
        if not self.allows(current, target):
            raise IllegalTransition(f"illegal {self.resource} transition {current} -> {target}")


def _table(moves: Mapping[Any, frozenset[Any]]) -> dict[str, frozenset[str]]:
    return {str(k): frozenset(str(v) for v in vs) for k, vs in moves.items()}


V, S, M, E, A = VolumeState, SnapshotState, ImageState, EniState, AttachmentState

INSTANCE = Lifecycle("instance", frozenset({str(InstanceState.PENDING)}), _table(INSTANCE_TRANSITIONS))

VOLUME = Lifecycle(
    "volume",
    frozenset({str(V.CREATING),  # CreateVolume
               str(V.IN_USE)}),  # an instance's root or block-device-mapping volume, born attached
    _table(VOLUME_TRANSITIONS),
)

SNAPSHOT = Lifecycle(
    "snapshot",
    frozenset({str(S.PENDING),  # CreateSnapshot / CopySnapshot / CreateImage
               str(S.COMPLETED)}),  # a built-in image's snapshot, registered with its layer
    _table({
        S.PENDING: frozenset({S.COMPLETED, S.ERROR, S.DELETED}),
        S.COMPLETED: frozenset({S.DELETED}),
        S.ERROR: frozenset({S.DELETED}),
        S.DELETED: frozenset(),
    }),
)

IMAGE = Lifecycle(
    "image",
    frozenset({str(M.PENDING), str(M.AVAILABLE)}),
    _table({
        M.PENDING: frozenset({M.AVAILABLE,  # its layer is in storage / its snapshots completed
                              M.FAILED,  # a snapshot behind it failed
                              M.DEREGISTERED}),
        M.AVAILABLE: frozenset({M.PENDING,  # its layer went missing from storage; re-imported later
                                M.DEREGISTERED}),
        M.FAILED: frozenset({M.DEREGISTERED}),
        M.DEREGISTERED: frozenset(),
    }),
)

ENI = Lifecycle(
    "network-interface",
    frozenset({str(E.AVAILABLE)}),
    _table({E.AVAILABLE: frozenset({E.IN_USE}), E.IN_USE: frozenset({E.AVAILABLE})}),
)

ATTACHMENT = Lifecycle(
    "volume attachment",
    frozenset({str(A.ATTACHING)}),
    _table({
        A.ATTACHING: frozenset({A.ATTACHED,  # plugged (or the instance is not running: nothing to plug)
                                A.DETACHING}),  # DetachVolume before the plug finished
        A.ATTACHED: frozenset({A.DETACHING}),
        A.DETACHING: frozenset({A.DETACHED,
                                A.BUSY,  # the guest kept the disk past the unplug timeout
                                A.ATTACHED}),  # the instance stopped first: its volumes stay attached
        A.BUSY: frozenset({A.DETACHING,  # DetachVolume again (e.g. with Force)
                           A.ATTACHED}),  # the instance stopped: the disk is the guest's no more
        A.DETACHED: frozenset(),
    }),
)


LB = LoadBalancerState
LOAD_BALANCER = Lifecycle(
    "elbv2-load-balancer",
    frozenset({str(LB.PROVISIONING)}),  # CreateLoadBalancer
    _table({
        LB.PROVISIONING: frozenset({LB.ACTIVE,  # its proxy is up on every node
                                    LB.FAILED}),  # the proxy could not be started
        LB.ACTIVE: frozenset({LB.PROVISIONING,  # SetSubnets: nodes change
                              LB.FAILED}),  # a later sync failed (ec2d restarted without the proxy)
        LB.FAILED: frozenset({LB.PROVISIONING, LB.ACTIVE}),  # a later sync brought it up
    }),
)


NG = NatGatewayState
NAT_GATEWAY = Lifecycle(
    "natgateway",
    frozenset({str(NG.PENDING)}),  # CreateNatGateway
    _table({
        NG.PENDING: frozenset({NG.AVAILABLE,  # its translation is in the VPC namespace
                               NG.FAILED, NG.DELETING}),
        NG.AVAILABLE: frozenset({NG.DELETING}),
        NG.FAILED: frozenset({NG.DELETED}),
        NG.DELETING: frozenset({NG.DELETED}),
        NG.DELETED: frozenset(),
    }),
)


PX = VpcPeeringState
VPC_PEERING = Lifecycle(
    "vpc-peering-connection",
    frozenset({str(PX.INITIATING_REQUEST)}),  # CreateVpcPeeringConnection
    _table({
        PX.INITIATING_REQUEST: frozenset({PX.PENDING_ACCEPTANCE, PX.FAILED,  # overlapping CIDRs
                                          PX.DELETED}),
        PX.PENDING_ACCEPTANCE: frozenset({PX.ACTIVE, PX.REJECTED, PX.DELETED}),
        PX.ACTIVE: frozenset({PX.DELETED}),
        PX.REJECTED: frozenset(),
        PX.FAILED: frozenset(),
        PX.DELETED: frozenset(),
    }),
)


PL = PrefixListState
_PL_SETTLED = frozenset({PL.MODIFY_IN_PROGRESS, PL.RESTORE_IN_PROGRESS, PL.DELETE_IN_PROGRESS})
PREFIX_LIST = Lifecycle(
    "prefix-list",
    frozenset({str(PL.CREATE_IN_PROGRESS)}),  # CreateManagedPrefixList
    _table({
        PL.CREATE_IN_PROGRESS: frozenset({PL.CREATE_COMPLETE, PL.CREATE_FAILED}),
        PL.CREATE_COMPLETE: _PL_SETTLED,
        PL.CREATE_FAILED: frozenset({PL.DELETE_IN_PROGRESS}),
        # ModifyManagedPrefixList: the VPCs whose groups name the list follow, then complete
        PL.MODIFY_IN_PROGRESS: frozenset({PL.MODIFY_COMPLETE, PL.MODIFY_FAILED}),
        PL.MODIFY_COMPLETE: _PL_SETTLED,
        PL.MODIFY_FAILED: _PL_SETTLED,
        PL.RESTORE_IN_PROGRESS: frozenset({PL.RESTORE_COMPLETE, PL.RESTORE_FAILED}),
        PL.RESTORE_COMPLETE: _PL_SETTLED,
        PL.RESTORE_FAILED: _PL_SETTLED,
        PL.DELETE_IN_PROGRESS: frozenset({PL.DELETE_COMPLETE, PL.DELETE_FAILED}),
        PL.DELETE_COMPLETE: frozenset(),
        PL.DELETE_FAILED: _PL_SETTLED,
    }),
)


VE = VpcEndpointState
VPC_ENDPOINT = Lifecycle(
    "vpc-endpoint",
    frozenset({str(VE.PENDING)}),  # CreateVpcEndpoint
    _table({
        VE.PENDING: frozenset({VE.AVAILABLE,  # its routes are in the tables and the VPC followed
                               VE.FAILED, VE.DELETING}),
        VE.AVAILABLE: frozenset({VE.DELETING}),
        VE.FAILED: frozenset({VE.DELETING}),
        VE.DELETING: frozenset({VE.DELETED}),
        VE.DELETED: frozenset(),
    }),
)


def _static(resource: str) -> Lifecycle:
    return Lifecycle(resource, frozenset({AVAILABLE}), {AVAILABLE: frozenset()})


LIFECYCLES: dict[str, Lifecycle] = {
    lc.resource: lc for lc in (
        INSTANCE, VOLUME, SNAPSHOT, IMAGE, ENI,
        _static("vpc"), _static("subnet"), _static("security-group"), _static("key-pair"),
        _static("internet-gateway"), _static("egress-only-internet-gateway"), _static("route-table"), _static("elastic-ip"),
        _static("iam-user"), _static("iam-access-key"), _static("iam-role"), _static("iam-policy"),
        _static("iam-instance-profile"), _static("sts-session"), _static("launch-template"),
        _static("dhcp-options"), _static("subnet-cidr-reservation"), NAT_GATEWAY, VPC_PEERING, PREFIX_LIST,
        VPC_ENDPOINT, LOAD_BALANCER, _static("elbv2-target-group"), _static("elbv2-listener"),
        _static("elbv2-rule"),
    )
}


def lifecycle_of(resource_type: str) -> Lifecycle:
    try:
        return LIFECYCLES[resource_type]
    except KeyError:
        raise IllegalTransition(f"{resource_type!r} has no lifecycle") from None


def check_initial(resource_type: str, state: str) -> None:
    """A resource of this type may be created in ``state``."""
    lc = lifecycle_of(resource_type)
    if state not in lc.initial:
        raise IllegalTransition(f"a {resource_type} cannot be created {state!r} (only {sorted(lc.initial)})")


def check_move(resource_type: str, current: str, target: str) -> None:
    """A resource of this type may move from ``current`` to ``target``."""
    lifecycle_of(resource_type).check(current, target)


class ProfileAssociationState(StrEnum):
    """An instance-profile association's ``State`` (DescribeIamInstanceProfileAssociations)."""

    ASSOCIATING = "associating"
    ASSOCIATED = "associated"
    DISASSOCIATING = "disassociating"
    DISASSOCIATED = "disassociated"


P = ProfileAssociationState

# Kept in the instance record's ``IamInstanceProfileAssociations`` (not a record type of its own).
PROFILE_ASSOCIATION = Lifecycle(
    "iam instance profile association",
    frozenset({str(P.ASSOCIATING)}),  # RunInstances, Associate, Replace (the new one)
    _table({
        P.ASSOCIATING: frozenset({P.ASSOCIATED,  # settled by the runtime's background job
                                  P.DISASSOCIATING}),  # Disassociate/Replace before it settled
        P.ASSOCIATED: frozenset({P.DISASSOCIATING}),
        P.DISASSOCIATING: frozenset({P.DISASSOCIATED}),
        P.DISASSOCIATED: frozenset(),
    }),
)
# Where the background job takes an association in each transient state.
PROFILE_ASSOCIATION_SETTLES: dict[str, str] = {str(P.ASSOCIATING): str(P.ASSOCIATED),
                                               str(P.DISASSOCIATING): str(P.DISASSOCIATED)}
PROFILE_ATTACHED = frozenset({str(P.ASSOCIATING), str(P.ASSOCIATED)})  # the instance has this profile


def move_profile_association(entry: dict[str, Any], target: ProfileAssociationState | str) -> dict[str, Any]:
    """Move one ``IamInstanceProfileAssociations[]`` entry (in place, and returned) along
    :data:`PROFILE_ASSOCIATION`."""
    if entry["State"] != str(target):
        PROFILE_ASSOCIATION.check(entry["State"], str(target))
        entry["State"] = str(target)
    return entry


def move_attachment(attachment: dict[str, Any], target: AttachmentState | str) -> dict[str, Any]:
    """Move one ``Attachments[]`` entry (in place, and returned) along :data:`ATTACHMENT`; an entry
    already in ``target`` stays as it is."""
    if attachment["State"] != str(target):
        ATTACHMENT.check(attachment["State"], str(target))
        attachment["State"] = str(target)
    return attachment


# ---- EC2 Auto Scaling (states as the autoscaling API names them)


class AsgInstanceState(StrEnum):
    """An Auto Scaling group's instance (``Instance.LifecycleState``)."""

    PENDING = "Pending"
    IN_SERVICE = "InService"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"
    DETACHING = "Detaching"  # DetachInstances: leaving the group, the EC2 instance keeps running
    DETACHED = "Detached"


class AsgGroupState(StrEnum):
    ACTIVE = "active"
    DELETING = "Delete in progress"  # DeleteAutoScalingGroup: its instances are being terminated (Status)


class ActivityStatus(StrEnum):
    """A scaling activity's ``StatusCode`` (the ones ec2d reaches)."""

    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


AI, AG, AC = AsgInstanceState, AsgGroupState, ActivityStatus

ASG_INSTANCE = Lifecycle(
    "autoscaling-instance",
    frozenset({str(AI.PENDING)}),  # launched by the group, or attached to it (AttachInstances)
    _table({
        AI.PENDING: frozenset({AI.IN_SERVICE,  # its instance runs (and is registered with the target groups)
                               AI.TERMINATING,  # unhealthy, scaled in or terminated by request before that
                               AI.TERMINATED,  # its instance vanished
                               AI.DETACHING}),
        AI.IN_SERVICE: frozenset({AI.TERMINATING, AI.TERMINATED, AI.DETACHING}),
        AI.TERMINATING: frozenset({AI.TERMINATED}),
        AI.TERMINATED: frozenset(),
        AI.DETACHING: frozenset({AI.DETACHED}),  # deregistered from the target groups, group tag removed
        AI.DETACHED: frozenset(),
    }),
)

ASG_GROUP = Lifecycle(
    "autoscaling-group",
    frozenset({str(AG.ACTIVE)}),
    _table({AG.ACTIVE: frozenset({AG.DELETING}), AG.DELETING: frozenset()}),
)

ASG_ACTIVITY = Lifecycle(
    "autoscaling-activity",
    frozenset({str(AC.IN_PROGRESS), str(AC.SUCCESSFUL), str(AC.FAILED)}),
    _table({AC.IN_PROGRESS: frozenset({AC.SUCCESSFUL, AC.FAILED, AC.CANCELLED}),
            AC.SUCCESSFUL: frozenset(), AC.FAILED: frozenset(), AC.CANCELLED: frozenset()}),
)

for _lc in (ASG_INSTANCE, ASG_GROUP, ASG_ACTIVITY, _static("autoscaling-launch-configuration"),
            _static("autoscaling-policy")):
    LIFECYCLES[_lc.resource] = _lc
