"""Start-up: open a data dir's backend and make what EC2 gives every account before its first
call (each region's default VPC with its subnets, group, gateway and route table).

It sits above the resource services so that ``Backend`` (which every service imports) depends on
none of them; the composition root (``server.py``, ``cli/``) and tests open backends through here.
"""

from __future__ import annotations

from orchestrator.config import Config
from orchestrator.services import dhcp_options, instance_roles, nat_gateways, vpc_peering, vpcs
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2.for_autoscaling import ElbTargetGroups


def ensure_defaults(backend: Backend) -> None:
    """Each configured region's default VPC, made once per region (a user may delete it later)."""
    for region in backend.config.regions:
        vpcs.ensure_default_vpc(backend, region)
        dhcp_options.ensure_default_set(backend, region)


def open(config: Config) -> Backend:  # noqa: A001 - the verb the callers read: bootstrap.open(config)
    backend = Backend.open(config)
    backend.roles = instance_roles.InstanceRoleCredentials(backend)
    backend.target_groups = ElbTargetGroups(backend)  # Auto Scaling registers with ELBv2's groups
    ensure_defaults(backend)
    nat_gateways.settle_interrupted(backend)
    vpc_peering.settle_interrupted(backend)
    return backend
