"""ELBv2 load balancers on a proxy engine: what each proxy should be (:func:`balancer_of`, from the
store), and the work that makes it so (:class:`LoadBalancers`: provision, sync, remove, health,
drain expiry, restore at start).

The order of a sync: the VPC's network first (``VpcNetworks.sync``: node addresses, the load
balancer's security groups, NAT of its public addresses), then the driver's ``apply``; on removal
the driver's ``remove`` first, then the VPC's sync (the node addresses go). Per load balancer, one
sync at a time (``Jobs.holding(arn)``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from orchestrator.domain import elbv2
from orchestrator.domain.lifecycle import LoadBalancerState
from orchestrator.domain.records import LISTENER, LISTENER_RULE, LOAD_BALANCER, TARGET_GROUP
from orchestrator.drivers.loadbalancer import driver as lbd
from orchestrator.runtime.parts import Parts
from orchestrator.runtime.vpc import VpcNetworks
from orchestrator.store.sqlite import Record, StateConflict, Store

log = logging.getLogger("ec2d.runtime")
LB = LoadBalancerState


def _health_check(settings: Mapping[str, object]) -> lbd.HealthCheck:
    port = settings["HealthCheckPort"]
    matcher = settings.get("Matcher") or {}
    return lbd.HealthCheck(
        protocol=str(settings["HealthCheckProtocol"]), path=str(settings.get("HealthCheckPath") or "/"),
        port=None if port == "traffic-port" else int(str(port)),
        interval=int(str(settings["HealthCheckIntervalSeconds"])), timeout=int(str(settings["HealthCheckTimeoutSeconds"])),
        healthy_threshold=int(str(settings["HealthyThresholdCount"])),
        unhealthy_threshold=int(str(settings["UnhealthyThresholdCount"])),
        matcher=str(matcher.get("HttpCode", "200")) if isinstance(matcher, dict) else "200",
        enabled=bool(settings["HealthCheckEnabled"]))


def _servers(store: Store, tg: Record, now: float) -> tuple[lbd.Server, ...]:
    servers = []
    for t in tg.data["Targets"]:
        if t["DrainingUntil"] is not None and t["DrainingUntil"] <= now:
            continue  # its deregistration delay is over: gone
        address = t["Id"]
        if tg.data["TargetType"] == "instance":
            instance = store.get(t["Id"], "instance")
            if instance is None:
                continue
            address = instance.data["PrivateIpAddress"]
        servers.append(lbd.Server(elbv2.server_name(t["Id"], t["Port"]), address, int(t["Port"]),
                                  draining=t["DrainingUntil"] is not None))
    return tuple(servers)


def _action(actions: list[dict[str, object]]) -> lbd.Action:
    """The proxy's action for ELB actions: the forward (to several target groups by weight), the
    fixed response or the redirect; ordered actions run by ``Order``, the terminal one decides."""
    for action in sorted(actions, key=lambda a: int(str(a.get("Order") or 0))):
        if action["Type"] == "forward":
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []  # type: ignore[union-attr]
            if len(groups) > 1:
                return lbd.Action(weighted=tuple((elbv2.backend_name(str(g["TargetGroupArn"])), int(g.get("Weight", 1)))
                                                 for g in groups))
            arn = groups[0]["TargetGroupArn"] if groups else action["TargetGroupArn"]
            return lbd.Action(backend=elbv2.backend_name(str(arn)))
        if action["Type"] == "fixed-response":
            cfg = action["FixedResponseConfig"]
            assert isinstance(cfg, dict)
            return lbd.Action(fixed=lbd.FixedResponse(int(cfg["StatusCode"]), cfg.get("ContentType") or "text/plain",
                                                      cfg.get("MessageBody") or ""))
        if action["Type"] == "redirect":
            cfg = action["RedirectConfig"]
            assert isinstance(cfg, dict)
            return lbd.Action(redirect=lbd.Redirect(cfg["Protocol"], cfg["Host"], cfg["Port"], cfg["Path"],
                                                    cfg["Query"], int(cfg["StatusCode"].removeprefix("HTTP_"))))
    return lbd.Action(fixed=lbd.FixedResponse(503))


def _patterns(conditions: list[dict[str, object]], field: str) -> tuple[str, ...]:
    return tuple(str(v) for c in conditions if c["Field"] == field for v in c["Values"])  # type: ignore[attr-defined]


def balancer_of(store: Store, lb: Record, netns: str, now: float) -> lbd.Balancer:
    """The whole desired proxy of ``lb`` from the store (pure over what it reads)."""
    listeners = store.find_by_field(LISTENER, lb.region, "LoadBalancerArn", lb.id)
    rules = store.find_by_field(LISTENER_RULE, lb.region, "LoadBalancerArn", lb.id)
    tg_arns: list[str] = []
    shaped = []
    for lst in sorted(listeners, key=lambda r: r.data["Port"]):
        own = sorted((r for r in rules if r.data["ListenerArn"] == lst.id), key=lambda r: r.data["Priority"])
        for acts in [lst.data["DefaultActions"], *(r.data["Actions"] for r in own)]:
            tg_arns += [a.get("TargetGroupArn") or "" for a in acts if a["Type"] == "forward"]
            tg_arns += [g["TargetGroupArn"] for a in acts for g in (a.get("ForwardConfig") or {}).get("TargetGroups", [])]
        shaped.append(lbd.Listener(
            port=lst.data["Port"], protocol=lst.data["Protocol"], default=_action(lst.data["DefaultActions"]),
            rules=tuple(lbd.Rule(priority=r.data["Priority"], action=_action(r.data["Actions"]),
                                 path_patterns=_patterns(r.data["Conditions"], "path-pattern"),
                                 host_patterns=_patterns(r.data["Conditions"], "host-header")) for r in own)))
    backends = []
    for arn in dict.fromkeys(a for a in tg_arns if a):
        tg = store.get(arn, TARGET_GROUP)
        if tg is not None:
            backends.append(lbd.Backend(elbv2.backend_name(arn), tg.data["Protocol"],
                                        _health_check(tg.data["HealthCheck"]), _servers(store, tg, now)))
    return lbd.Balancer(name=elbv2.balancer_name(lb.id), netns=netns,
                        addresses=tuple(n["PrivateIpAddress"] for n in lb.data["Nodes"]),
                        listeners=tuple(shaped), backends=tuple(backends),
                        idle_timeout=int(lb.data["Attributes"].get("idle_timeout.timeout_seconds", "60")),
                        # targets see a node's address (one of the load balancer's group's members)
                        source=lb.data["Nodes"][0]["PrivateIpAddress"] if lb.data["Nodes"] else None)


def next_expiry(store: Store, balancer_lb: Record, now: float) -> float | None:
    """When the first draining target of the load balancer's groups finishes draining."""
    pending = [t["DrainingUntil"] for tg in store.list(TARGET_GROUP, balancer_lb.region)
               for t in tg.data["Targets"] if t["DrainingUntil"] is not None and t["DrainingUntil"] > now]
    return min(pending) if pending else None


class LoadBalancers:
    def __init__(self, parts: Parts, vpcs: VpcNetworks, driver: lbd.LoadBalancerDriver) -> None:
        self.parts = parts
        self.vpcs = vpcs
        self.driver = driver
        self.jobs = parts.jobs
        self.expiries: dict[str, float] = {}  # lb arn -> the drain expiry a timer is set for
        self.naming = asyncio.Lock()  # one write of the host's names at a time

    @property
    def store(self) -> Store:
        return self.parts.model.store

    def netns(self, region: str, vpc_id: str) -> str:
        return self.parts.networks[region].netns_name(vpc_id)

    async def supervise(self) -> None:
        """Forever: every ``lb_supervise_interval`` seconds, start again the proxy of every load
        balancer whose process is gone (killed, crashed, OOM): ELB's nodes are replaced when they
        fail, so a load balancer never stays down until its next API change."""
        while True:
            await asyncio.sleep(self.parts.model.config.lb_supervise_interval)
            await self.revive()

    async def revive(self) -> list[str]:
        """One supervision pass: the ARNs of the load balancers whose proxy was started again."""
        running = set(await self.jobs.call(self.driver.running))
        revived = []
        for region in self.parts.model.config.regions:
            for record in self.store.list(LOAD_BALANCER, region):
                if record.state != LB.ACTIVE or elbv2.balancer_name(record.id) in running:
                    continue
                log.warning("load balancer %s: its proxy is not running, starting it again", record.id)
                try:
                    await self.sync(region, record.id, record.data["VpcId"])
                except Exception:
                    log.exception("load balancer %s: its proxy could not be started again", record.id)
                    continue
                revived.append(record.id)
        return revived

    def provision(self, region: str, lb_arn: str) -> None:
        """In the background: the proxy up, then the record ``provisioning`` -> ``active`` (or ``failed``)."""
        async def go() -> None:
            record = self.store.get(lb_arn, LOAD_BALANCER)
            if record is None:
                return
            try:
                await self.sync(region, lb_arn, record.data["VpcId"])
            except Exception as exc:
                log.exception("load balancer %s failed to provision", lb_arn)
                self._move(lb_arn, LB.FAILED, str(exc) or type(exc).__name__)
                return
            self._move(lb_arn, LB.ACTIVE, None)

        self.jobs.spawn_logged(f"provisioning {lb_arn}", go)

    def _move(self, lb_arn: str, target: LoadBalancerState, reason: str | None) -> None:
        record = self.store.get(lb_arn, LOAD_BALANCER)
        if record is None or record.state == target:
            return
        try:
            moved = self.store.transition(lb_arn, record.state, str(target),
                                          {"StateReason": reason[:200]} if reason is not None else None)
            if reason is None and moved.data.pop("StateReason", None) is not None:
                self.store.update(moved)
        except StateConflict:
            pass  # moved (or deleted) meanwhile: the newer decision stands

    async def sync(self, region: str, lb_arn: str, vpc_id: str) -> None:
        """Make the proxy of ``lb_arn`` match the store; remove it when the record is gone."""
        name = elbv2.balancer_name(lb_arn)
        async with self.jobs.holding(lb_arn):
            record = self.store.get(lb_arn, LOAD_BALANCER)
            if record is None:
                await self.jobs.call(self.driver.remove, name)
                if self.store.get(vpc_id, "vpc") is not None:
                    await self.vpcs.sync(region, vpc_id)
            else:
                await self.vpcs.sync(region, vpc_id)  # node addresses, firewall, NAT (the lead's VPC side)
                now = self.store.now()
                balancer = balancer_of(self.store, record, self.netns(region, vpc_id), now)
                await self.jobs.call(self.driver.apply, balancer)
                self._timer(region, record, now)
        await self.publish_names()

    def host_names(self) -> dict[str, list[str]]:
        """Every internet-facing load balancer's DNS name -> its nodes' public addresses."""
        names: dict[str, list[str]] = {}
        for region in self.parts.model.config.regions:
            for record in self.store.list(LOAD_BALANCER, region):
                ips = [n["PublicIp"] for n in record.data["Nodes"] if n.get("PublicIp")]
                if record.data["Scheme"] == "internet-facing" and ips and record.state != LB.FAILED:
                    names[record.data["DNSName"]] = ips
        return names

    async def publish_names(self) -> None:
        """With ``--host-routes``: the host resolves the load balancers' names (``/etc/hosts``)."""
        public = self.parts.public
        if public is None or not self.parts.model.config.host_routes:
            return
        async with self.naming:
            await self.jobs.call(public.set_host_names, self.host_names())

    def _timer(self, region: str, record: Record, now: float) -> None:
        """Re-sync when the first draining target's delay ends (the proxy then drops it)."""
        at = next_expiry(self.store, record, now)
        if at is None or self.expiries.get(record.id) == at:
            return
        self.expiries[record.id] = at
        vpc_id = record.data["VpcId"]

        async def later() -> None:
            await asyncio.sleep(max(0.0, at - self.store.now()) + 0.05)
            if self.expiries.get(record.id) == at:
                self.expiries.pop(record.id, None)
            await self.sync(region, record.id, vpc_id)

        self.jobs.spawn_logged(f"drain expiry of {record.id}", later)

    async def target_health(self, region: str, tg_arn: str) -> dict[tuple[str, int], lbd.ServerHealth | None]:
        """``(target id, port) -> what the proxies observed`` (None: no proxy has it yet); a target
        behind several load balancers reports its worst observation."""
        tg = self.store.get(tg_arn, TARGET_GROUP)
        if tg is None:
            return {}
        seen: dict[str, list[lbd.ServerHealth]] = {}
        backend = elbv2.backend_name(tg_arn)
        for lb_arn in self.users_of(region, tg_arn):
            observed = await self.jobs.call(self.driver.health, elbv2.balancer_name(lb_arn))
            for server, health in (observed.get(backend) or {}).items():
                seen.setdefault(server, []).append(health)
        out: dict[tuple[str, int], lbd.ServerHealth | None] = {}
        for t in tg.data["Targets"]:
            found = seen.get(elbv2.server_name(t["Id"], t["Port"]))
            out[(t["Id"], int(t["Port"]))] = (next((h for h in found if h.status != "UP"), found[0])
                                               if found else None)
        return out

    def users_of(self, region: str, tg_arn: str) -> list[str]:
        """The load balancers whose listeners or rules forward to ``tg_arn``."""
        lbs = [r.data["LoadBalancerArn"] for t in (LISTENER, LISTENER_RULE) for r in self.store.list(t, region)
               if tg_arn in _forwards(r.data.get("DefaultActions") or r.data.get("Actions") or [])]
        return list(dict.fromkeys(lbs))

    def restore(self) -> None:
        """At start: every load balancer's proxy re-created (and ``provisioning`` ones finished)."""
        for region in self.parts.model.config.regions:
            for record in self.store.list(LOAD_BALANCER, region):
                self.provision(region, record.id)


def _forwards(actions: list[dict[str, object]]) -> set[str]:
    out = {str(a["TargetGroupArn"]) for a in actions if a.get("Type") == "forward" and a.get("TargetGroupArn")}
    for a in actions:
        for g in (a.get("ForwardConfig") or {}).get("TargetGroups", []):  # type: ignore[union-attr]
            out.add(g["TargetGroupArn"])
    return out
