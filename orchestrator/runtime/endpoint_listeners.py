"""Interface VPC endpoints in a VPC's namespace: their ENIs as the store has them
(:func:`endpoint_nodes`, for ``vpc_state``: addresses, DNS names, security groups) and ec2d's HTTPS
endpoint listening on each ENI address (:func:`sync_listeners`), keyed ``<vpc id>/vpce-<address>``
on the endpoint's server, so a request arriving there is served like one to 169.254.169.250."""

from __future__ import annotations

from orchestrator.domain import interface_endpoints as ife
from orchestrator.domain.vpc_endpoints import VPC_ENDPOINT, VpcEndpointState
from orchestrator.runtime.jobs import Jobs
from orchestrator.runtime.parts import Parts
from orchestrator.runtime.records import ENI
from orchestrator.runtime.vpc_state import EndpointNode
from orchestrator.store.sqlite import Store

LIVE = (str(VpcEndpointState.PENDING), str(VpcEndpointState.AVAILABLE))
KEY = "/vpce-"


def endpoint_nodes(store: Store, region: str, vpc_id: str) -> list[EndpointNode]:
    """The ENIs of the VPC's live Interface endpoints, each with the DNS names answered with it."""
    out = []
    for e in store.list(VPC_ENDPOINT, region):
        d = e.data
        found = ife.parse(d["ServiceName"], [region])
        if d["VpcId"] != vpc_id or d["VpcEndpointType"] != "Interface" or e.state not in LIVE or found is None:
            continue
        enis = [x for x in (store.get(i, ENI) for i in d.get("NetworkInterfaceIds") or []) if x is not None]
        zone_ips = {x.data["AvailabilityZone"]: x.data["PrivateIpAddress"] for x in enis}
        names = ife.dns_names(e.id, d.get("DnsSuffix", ""), region, found[1], zone_ips,
                              bool(d.get("PrivateDnsEnabled")))
        out += [EndpointNode(x.id, x.data["SubnetId"], x.data["PrivateIpAddress"],
                             tuple(g["GroupId"] for g in x.data["Groups"]),
                             tuple(n for n, ip in names if ip == x.data["PrivateIpAddress"])) for x in enis]
    return out


async def sync_listeners(parts: Parts, jobs: Jobs, netns: str, vpc_id: str, addresses: list[str]) -> None:
    """ec2d's HTTPS endpoint listens on exactly ``addresses`` in the VPC's namespace (which holds
    them already); the listeners of addresses no longer wanted close."""
    endpoint = parts.endpoint
    if endpoint is None or endpoint.open_address is None:
        return
    have = parts.endpoint_addresses.setdefault(vpc_id, set())
    for ip in sorted(have - set(addresses)):
        await endpoint.server.remove_listener(f"{vpc_id}{KEY}{ip}")
        have.discard(ip)
    for ip in addresses:
        if ip not in have:
            sock = await jobs.call(endpoint.open_address, netns, ip)
            await endpoint.server.add_listener(f"{vpc_id}{KEY}{ip}", sock, True)
            have.add(ip)


async def close_listeners(parts: Parts, vpc_id: str) -> None:
    """The VPC goes: its endpoint addresses' listeners close."""
    endpoint = parts.endpoint
    for ip in sorted(parts.endpoint_addresses.pop(vpc_id, set())):
        if endpoint is not None:
            await endpoint.server.remove_listener(f"{vpc_id}{KEY}{ip}")
