"""The HAProxy driver against the real HAProxy 2.6, in a private namespace (see haproxy_lab.py).

Health checks run every second so transitions take seconds; every wait is on a condition with a
deadline. Each test gets its own run dir and driver; the finalizers kill what they started.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from haproxy_lab import Lab, can_run, wait_for

from orchestrator.drivers.loadbalancer.driver import (
    Action,
    Backend,
    Balancer,
    FixedResponse,
    HealthCheck,
    Listener,
    Redirect,
    Rule,
    Server,
)
from orchestrator.drivers.loadbalancer.haproxy import HaproxyDriver, haproxy_pids
from orchestrator.drivers.loadbalancer.haproxy_runtime import RuntimeClient

HAPROXY = "/usr/sbin/haproxy"
FAST = HealthCheck(interval=1, timeout=1, healthy_threshold=2, unhealthy_threshold=2)
SLOW_RISE = HealthCheck(interval=1, timeout=1, healthy_threshold=3, unhealthy_threshold=2)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = can_run(HAPROXY)
    if reason:
        pytest.skip(reason)
    lab = Lab()
    try:
        lab.setup()
        lab.start("a")
        lab.start("b")
        yield lab
    finally:
        lab.teardown()


@pytest.fixture
def driver(lab: Lab) -> Iterator[HaproxyDriver]:
    run_dir = Path(tempfile.mkdtemp(prefix="ec2dh"))
    drv = HaproxyDriver(run_dir, "ec2dh", HAPROXY)
    try:
        yield drv
    finally:
        drv.sweep()
        shutil.rmtree(run_dir, ignore_errors=True)
        for name in ("a", "b"):  # the next test starts from both servers answering 200
            lab.fail(name, False)
            if name not in lab.servers:
                lab.start(name)
        lab.stop("c")


def server(name: str, draining: bool = False) -> Server:
    return Server(f"{name}_8080", Lab.BACKENDS[name], Lab.PORT, draining)


def balancer(lab: Lab, servers: tuple[Server, ...], *, health: HealthCheck = FAST,
             listeners: tuple[Listener, ...] | None = None, extra: tuple[Backend, ...] = ()) -> Balancer:
    tg1 = Backend("tg1", "HTTP", health, servers)
    return Balancer(name="lb-test", netns=lab.netns, addresses=(Lab.BALANCER,),
                    listeners=listeners or (Listener(80, "HTTP", Action(backend="tg1")),),
                    backends=(tg1, *extra), idle_timeout=30)


def statuses(drv: HaproxyDriver, backend: str = "tg1") -> dict[str, str]:
    return {k: v.status for k, v in drv.health("lb-test").get(backend, {}).items()}


def wait_status(drv: HaproxyDriver, want: dict[str, str], timeout: float, backend: str = "tg1") -> None:
    wait_for(f"{backend} servers {want}",
             lambda: all(statuses(drv, backend).get(k) == v for k, v in want.items()), timeout)


def test_requests_alternate_between_both_servers(lab: Lab, driver: HaproxyDriver) -> None:
    assert driver.sync(balancer(lab, (server("a"), server("b")))) == "started"
    wait_status(driver, {"a_8080": "UP", "b_8080": "UP"}, 10)
    names = lab.names(6)
    assert sorted(names) == ["a"] * 3 + ["b"] * 3
    assert all(x != y for x, y in zip(names, names[1:], strict=False)), names  # round robin
    status, body, _ = lab.get([(f"{Lab.BALANCER}:80", "/", {})])[0]
    assert status == 200 and body.split(" ")[2] == Lab.BALANCER  # X-Forwarded-For: the client
    h = driver.health("lb-test")["tg1"]["a_8080"]
    assert (h.check, h.code) == ("L7OK", 200)
    assert driver.running() == ["lb-test"]
    cfg = driver.paths("lb-test").cfg
    assert oct(os.stat(cfg).st_mode & 0o777) == "0o600"
    assert oct(os.stat(driver.paths("lb-test").socket).st_mode & 0o777) == "0o600"


def test_rules_route_by_path_and_host_in_priority_order(lab: Lab, driver: HaproxyDriver) -> None:
    body = 'no "$HOME" here\nsecond line'
    rules = (
        Rule(5, Action(fixed=FixedResponse(503, "text/plain", "api down")), path_patterns=("/api/fixed",)),
        Rule(10, Action(backend="tg2"), path_patterns=("/api/*", "/v?/x")),
        Rule(20, Action(fixed=FixedResponse(403, "application/json", body)), host_patterns=("*.Example.COM",)),
        Rule(30, Action(backend="tg2"), path_patterns=("/both",), host_patterns=("b.test",)),
    )
    tg2 = Backend("tg2", "HTTP", FAST, (server("b"),))
    model = balancer(lab, (server("a"),), extra=(tg2,),
                     listeners=(Listener(80, "HTTP", Action(backend="tg1"), rules),))
    driver.sync(model)
    wait_status(driver, {"a_8080": "UP"}, 10)
    wait_status(driver, {"b_8080": "UP"}, 10, backend="tg2")
    lb = f"{Lab.BALANCER}:80"
    got = lab.get([
        (lb, "/api/users", {}), (lb, "/api/fixed", {}), (lb, "/v2/x", {}), (lb, "/v22/x", {}),
        (lb, "/API/users", {}), (lb, "/", {"Host": "WWW.example.com:80"}), (lb, "/", {"Host": "example.com"}),
        (lb, "/both", {"Host": "b.test"}), (lb, "/both", {"Host": "c.test"}),
    ])
    first = [(s, b.split(" ")[0]) for s, b, _ in got]
    assert first == [(200, "b"), (503, "api"), (200, "b"), (200, "a"), (200, "a"), (403, "no"),
                     (200, "a"), (200, "b"), (200, "a")]
    assert got[1][1] == "api down"
    assert got[5][1:] == (body, "application/json")


def test_weighted_forward_and_redirects(lab: Lab, driver: HaproxyDriver) -> None:
    """A forward to two groups weighted 1:3 sends about a quarter of the requests to the first;
    weight 0 gets none; redirects answer 301/302 with ELB's placeholders filled from the request."""
    tg2 = Backend("tg2", "HTTP", FAST, (server("b"),))
    rules = (
        Rule(10, Action(weighted=(("tg1", 1), ("tg2", 3))), path_patterns=("/split",)),
        Rule(20, Action(weighted=(("tg1", 0), ("tg2", 5))), path_patterns=("/zero",)),
        Rule(30, Action(redirect=Redirect(protocol="HTTPS", port="443", status=301)), path_patterns=("/secure*",)),
        Rule(40, Action(redirect=Redirect(host="new.example", path="/v2/#{path}", query="from=#{host}&#{query}",
                                          status=302)), path_patterns=("/old/*",)),
    )
    model = balancer(lab, (server("a"),), extra=(tg2,),
                     listeners=(Listener(80, "HTTP", Action(weighted=(("tg1", 1), ("tg2", 1))), rules),))
    driver.sync(model)
    wait_status(driver, {"a_8080": "UP"}, 10)
    wait_status(driver, {"b_8080": "UP"}, 10, backend="tg2")
    split = lab.names(400, path="/split")
    assert set(split) == {"a", "b"}
    assert 50 <= split.count("a") <= 150, split.count("a")  # expected 100 of 400
    assert set(lab.names(40, path="/zero")) == {"b"}
    assert set(lab.names(40)) == {"a", "b"}  # the default action: 1:1
    lb = f"{Lab.BALANCER}:80"
    got = lab.get([(lb, "/secure/x?a=1", {"Host": "shop.test"}), (lb, "/secure", {"Host": "shop.test:80"}),
                   (lb, "/old/page", {"Host": "www.test"}), (lb, "/old/page?q=2", {"Host": "www.test"})],
                  header="Location")
    assert [(status, where) for status, _, where in got] == [
        (301, "https://shop.test:443/secure/x?a=1"), (301, "https://shop.test:443/secure"),
        (302, "http://new.example:80/v2/old/page?from=www.test&"), (302, "http://new.example:80/v2/old/page?from=www.test&q=2")]


def test_dead_server_goes_down_then_up_and_500_is_l7sts(lab: Lab, driver: HaproxyDriver) -> None:
    driver.sync(balancer(lab, (server("a"), server("b"))))
    wait_status(driver, {"a_8080": "UP", "b_8080": "UP"}, 10)
    lab.stop("a")
    t0 = time.monotonic()
    wait_status(driver, {"a_8080": "DOWN"}, 10)
    # interval 1 s x fall 2, plus the check in flight and the polling
    assert time.monotonic() - t0 < FAST.interval * FAST.unhealthy_threshold + 1.5
    h = driver.health("lb-test")["tg1"]["a_8080"]
    assert h.check == "L4CON" and h.code is None
    assert lab.names(4) == ["b"] * 4
    lab.start("a")
    wait_status(driver, {"a_8080": "UP"}, 10)
    assert sorted(set(lab.names(4))) == ["a", "b"]
    lab.fail("a", True)
    wait_status(driver, {"a_8080": "DOWN"}, 10)
    h = driver.health("lb-test")["tg1"]["a_8080"]
    assert (h.check, h.code) == ("L7STS", 500)
    assert lab.names(4) == ["b"] * 4


def test_runtime_add_is_init_until_rise_and_remove_needs_no_reload(lab: Lab, driver: HaproxyDriver) -> None:
    lab.start("c")
    driver.sync(balancer(lab, (server("a"),), health=SLOW_RISE))
    wait_status(driver, {"a_8080": "UP"}, 10)
    pid = driver.pid("lb-test")
    assert driver.sync(balancer(lab, (server("a"), server("c")), health=SLOW_RISE)) == "updated"
    assert driver.pid("lb-test") == pid
    h = driver.health("lb-test")["tg1"]["c_8080"]
    assert h.status == "INIT", h  # rise 3 x 1 s: still initial
    assert lab.names(4) == ["a"] * 4  # no traffic before it is healthy
    wait_status(driver, {"c_8080": "UP"}, 10)
    assert sorted(set(lab.names(4))) == ["a", "c"]
    assert "server c_8080 10.9.0.13:8080" in driver.paths("lb-test").cfg.read_text()
    assert driver.sync(balancer(lab, (server("a"),), health=SLOW_RISE)) == "updated"
    assert driver.pid("lb-test") == pid
    assert set(statuses(driver)) == {"a_8080"}
    assert lab.names(4) == ["a"] * 4
    assert "c_8080" not in driver.paths("lb-test").cfg.read_text()
    assert driver.sync(balancer(lab, (server("a"),), health=SLOW_RISE)) == "unchanged"


def test_a_newly_added_server_that_fails_is_down_not_init(lab: Lab, driver: HaproxyDriver) -> None:
    driver.sync(balancer(lab, (server("a"),)))
    wait_status(driver, {"a_8080": "UP"}, 10)
    driver.sync(balancer(lab, (server("a"), server("c"))))  # nothing listens on c
    assert statuses(driver)["c_8080"] == "INIT"
    wait_status(driver, {"c_8080": "DOWN"}, 5)
    assert driver.health("lb-test")["tg1"]["c_8080"].check == "L4CON"


def test_draining_server_leaves_rotation_and_stays_out_after_reload(lab: Lab, driver: HaproxyDriver) -> None:
    driver.sync(balancer(lab, (server("a"), server("b"))))
    wait_status(driver, {"a_8080": "UP", "b_8080": "UP"}, 10)
    pid = driver.pid("lb-test")
    assert driver.sync(balancer(lab, (server("a"), server("b", draining=True)))) == "updated"
    assert driver.pid("lb-test") == pid
    assert statuses(driver) == {"a_8080": "UP", "b_8080": "DRAIN"}
    assert lab.names(4) == ["a"] * 4
    assert driver.sync(balancer(lab, (server("a"), server("b", draining=True)))) == "unchanged"
    two = (Listener(80, "HTTP", Action(backend="tg1")), Listener(81, "HTTP", Action(backend="tg1")))
    assert driver.sync(balancer(lab, (server("a"), server("b", draining=True)), listeners=two)) == "reloaded"
    assert statuses(driver)["b_8080"] == "DRAIN"
    assert lab.names(4, port=81) == ["a"] * 4
    assert driver.sync(balancer(lab, (server("a"), server("b")), listeners=two)) == "updated"
    wait_status(driver, {"b_8080": "UP"}, 5)
    assert sorted(set(lab.names(4, port=81))) == ["a", "b"]


def test_listener_change_reloads_and_keeps_runtime_added_servers(lab: Lab, driver: HaproxyDriver) -> None:
    lab.start("c")
    driver.sync(balancer(lab, (server("a"),)))
    driver.sync(balancer(lab, (server("a"), server("c"))))
    wait_status(driver, {"a_8080": "UP", "c_8080": "UP"}, 10)
    old = driver.pid("lb-test")
    assert old is not None
    two = (Listener(80, "HTTP", Action(backend="tg1")), Listener(81, "TCP", Action(backend="tg1")))
    tcp = Backend("tg1", "TCP", HealthCheck(protocol="TCP", interval=1, timeout=1, healthy_threshold=2,
                                             unhealthy_threshold=2), (server("a"), server("c")))
    model = dataclasses.replace(balancer(lab, (server("a"), server("c"))), backends=(tcp,))
    with pytest.raises(Exception, match="mode"):  # an HTTP frontend cannot use a TCP backend
        driver.sync(model)
    assert driver.pid("lb-test") == old  # a refused file changes nothing
    assert driver.sync(balancer(lab, (server("a"), server("c")), listeners=two)) == "reloaded"
    new = driver.pid("lb-test")
    assert new is not None and new != old
    wait_for("the old process to exit", lambda: not os.path.exists(f"/proc/{old}"), 10)
    assert set(statuses(driver)) == {"a_8080", "c_8080"}
    assert statuses(driver)["c_8080"] == "UP"  # seen UP before the reload
    assert sorted(set(lab.names(6, port=81))) == ["a", "c"]  # TCP listener on an HTTP backend


def test_killed_process_is_restarted_by_the_next_apply(lab: Lab, driver: HaproxyDriver) -> None:
    model = balancer(lab, (server("a"), server("b")))
    driver.sync(model)
    pid = driver.pid("lb-test")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for("haproxy to die", lambda: driver.pid("lb-test") is None, 5)
    assert driver.running() == []
    assert driver.health("lb-test") == {}
    assert driver.sync(model) == "started"
    assert driver.pid("lb-test") not in (None, pid)
    wait_status(driver, {"a_8080": "UP", "b_8080": "UP"}, 10)
    assert sorted(set(lab.names(4))) == ["a", "b"]


ADOPTER = """
import pickle, sys, time
from pathlib import Path
from orchestrator.drivers.loadbalancer.haproxy import HaproxyDriver
drv = HaproxyDriver(Path(sys.argv[1]), "ec2dh", sys.argv[2])
print(drv.sync(pickle.loads(bytes.fromhex(sys.argv[3]))), drv.pid("lb-test"), flush=True)
time.sleep(600)
"""


def test_a_process_outlives_the_daemon_that_started_it_and_is_adopted(lab: Lab, driver: HaproxyDriver) -> None:
    """An "ec2d" (a child process) starts the proxy and is killed -9; the proxy keeps serving and
    a second driver over the same run dir adopts it: running() lists it, the same model changes
    nothing, a server change goes through the runtime API of the same process."""
    model = balancer(lab, (server("a"), server("b")))
    child = subprocess.Popen([sys.executable, "-c", ADOPTER, str(driver.lb_dir.parent), HAPROXY,
                              pickle.dumps(model).hex()], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        what, pid_text = child.stdout.readline().split()
    finally:
        child.kill()
        child.wait(10)
    assert what == "started"
    pid = int(pid_text)
    assert driver.pid("lb-test") == pid
    wait_status(driver, {"a_8080": "UP", "b_8080": "UP"}, 10)
    assert sorted(set(lab.names(4))) == ["a", "b"]
    other = HaproxyDriver(driver.lb_dir.parent, "ec2dh", HAPROXY)
    assert other.running() == ["lb-test"]
    assert other.sync(model) == "unchanged"
    assert other.pid("lb-test") == pid
    assert other.sync(balancer(lab, (server("a"),))) == "updated"
    assert other.pid("lb-test") == pid


def test_tcp_listener_with_tcp_checks(lab: Lab, driver: HaproxyDriver) -> None:
    health = HealthCheck(protocol="TCP", interval=1, timeout=1, healthy_threshold=2, unhealthy_threshold=2)
    model = Balancer(name="lb-test", netns=lab.netns, addresses=(Lab.BALANCER,),
                     listeners=(Listener(90, "TCP", Action(backend="tg1")),),
                     backends=(Backend("tg1", "TCP", health, (server("a"), server("b"))),))
    driver.sync(model)
    wait_status(driver, {"a_8080": "UP", "b_8080": "UP"}, 10)
    assert driver.health("lb-test")["tg1"]["a_8080"].check == "L4OK"
    assert sorted(set(lab.names(4, port=90))) == ["a", "b"]
    lab.stop("b")
    wait_status(driver, {"b_8080": "DOWN"}, 10)
    assert lab.names(4, port=90) == ["a"] * 4


def test_remove_leaves_no_process_and_no_files(lab: Lab, driver: HaproxyDriver) -> None:
    driver.sync(balancer(lab, (server("a"),)))
    driver.sync(balancer(lab, (server("a"),), listeners=(Listener(82, "HTTP", Action(backend="tg1")),)))
    assert haproxy_pids(driver.lb_dir)
    driver.remove("lb-test")
    assert haproxy_pids(driver.lb_dir) == {}
    assert not driver.paths("lb-test").dir.exists()
    assert driver.running() == []
    assert all(os.path.basename(os.readlink(f"/proc/{p}/exe")) != "haproxy" for p in lab.netns_pids())
    driver.remove("lb-test")  # absent: fine


def test_prefix_sweep_kills_the_prefix_haproxy_and_nothing_else(lab: Lab, driver: HaproxyDriver) -> None:
    """``python -m orchestrator.cli.sweep --prefix P --exact`` (as ``ec2d uninstall``) kills the
    load balancers under /run/P/lb and leaves another run dir's alone."""
    driver.sync(balancer(lab, (server("a"),)))
    mine = driver.pid("lb-test")
    prefix = "ec2dh" + secrets.token_hex(3)
    swept = HaproxyDriver(Path(f"/run/{prefix}"), prefix, HAPROXY)
    try:
        model = dataclasses.replace(balancer(lab, (server("b"),)), name="lb-other",
                                    listeners=(Listener(83, "HTTP", Action(backend="tg1")),))
        swept.sync(model)
        other = swept.pid("lb-other")
        assert other is not None
        res = subprocess.run([sys.executable, "-m", "orchestrator.cli.sweep", "--prefix", prefix, "--exact"],
                             capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 0, res.stderr
        assert f"swept 1 load balancers: lb-other:{other}" in res.stdout
        assert not os.path.exists(f"/proc/{other}") or swept.pid("lb-other") is None
        assert not os.path.exists(f"/run/{prefix}")
        assert driver.pid("lb-test") == mine  # another run dir's process is untouched
    finally:
        swept.sweep()
        shutil.rmtree(f"/run/{prefix}", ignore_errors=True)


def test_draining_a_down_server_is_applied_once(lab: Lab, driver: HaproxyDriver) -> None:
    driver.sync(balancer(lab, (server("a"), server("b"))))
    wait_status(driver, {"a_8080": "UP", "b_8080": "UP"}, 10)
    lab.stop("b")
    wait_status(driver, {"b_8080": "DOWN"}, 10)
    model = balancer(lab, (server("a"), server("b", draining=True)))
    assert driver.sync(model) == "updated"
    assert driver.sync(model) == "unchanged"
    lab.start("b")
    wait_status(driver, {"b_8080": "DRAIN"}, 10)
    assert lab.names(4) == ["a"] * 4


def test_a_server_up_then_down_unobserved_is_down_while_recovering(lab: Lab, driver: HaproxyDriver) -> None:
    """Nobody asks health() while c goes UP then DOWN: its chkdown above the add's baseline says
    it was up, so while it climbs back (``DOWN 1/3`` after a good check) it is DOWN, not INIT."""
    lab.start("c")
    driver.sync(balancer(lab, (server("a"),), health=SLOW_RISE))
    driver.sync(balancer(lab, (server("a"), server("c")), health=SLOW_RISE))
    raw = RuntimeClient(str(driver.paths("lb-test").socket))

    def c_status() -> str:
        return next(s.status for s in raw.servers() if s.name == "c_8080")

    wait_for("c UP (raw)", lambda: c_status() == "UP", 10)
    lab.stop("c")
    wait_for("c DOWN (raw)", lambda: c_status() == "DOWN", 10)
    lab.start("c")
    wait_for("c climbing (raw)", lambda: c_status().startswith("DOWN 1/"), 10, interval=0.02)
    h = driver.health("lb-test")["tg1"]["c_8080"]
    assert h.status == "DOWN" and h.check == "L7OK", h
    wait_status(driver, {"c_8080": "UP"}, 10)


def test_matcher_lists_and_ranges_and_disabled_checks(lab: Lab, driver: HaproxyDriver) -> None:
    picky = dataclasses.replace(FAST, matcher="201,202")
    driver.sync(balancer(lab, (server("a"),), health=picky))
    wait_status(driver, {"a_8080": "DOWN"}, 10)
    h = driver.health("lb-test")["tg1"]["a_8080"]
    assert (h.check, h.code) == ("L7STS", 200)
    assert driver.sync(balancer(lab, (server("a"),), health=dataclasses.replace(FAST, matcher="200-299"))) == "reloaded"
    wait_status(driver, {"a_8080": "UP"}, 10)
    off = dataclasses.replace(FAST, enabled=False)
    driver.sync(balancer(lab, (server("a"),), health=off))
    assert statuses(driver) == {"a_8080": "NOCHECK"}
    assert driver.sync(balancer(lab, (server("a"), server("c")), health=off)) == "updated"
    assert statuses(driver) == {"a_8080": "NOCHECK", "c_8080": "NOCHECK"}  # no check: in rotation at once
    lab.start("c")
    assert sorted(set(lab.names(4))) == ["a", "c"]
