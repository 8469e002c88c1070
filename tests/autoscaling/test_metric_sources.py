"""Where target tracking's numbers come from: the compute drivers' cumulative CPU seconds (the fake,
and libvirt's own ``test:///default`` hypervisor: no guest, no host object) and the load-balancer
drivers' request counters (the fake, HAProxy's ``show stat`` ``stot``, read from a real haproxy
process on loopback that served real HTTP requests over one keep-alive connection)."""

from __future__ import annotations

import http.client
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.compute.config import DomainConfig
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute
from orchestrator.drivers.loadbalancer import driver as lbd
from orchestrator.drivers.loadbalancer.fake import FakeLoadBalancerDriver
from orchestrator.drivers.loadbalancer.haproxy import HaproxyDriver
from orchestrator.drivers.loadbalancer.haproxy_runtime import RuntimeClient, parse_show_stat

HAPROXY = Path("/usr/sbin/haproxy")


def test_fake_compute_reports_running_domains_only() -> None:
    fake = FakeCompute()
    assert fake.cpu_seconds(["a"]) == {}
    fake.spawn(DomainConfig(name="a"))  # running
    fake.cpu["a"] = 12.5
    assert fake.cpu_seconds(["a", "missing"]) == {"a": 12.5}
    fake.destroy("a")
    assert fake.cpu_seconds(["a"]) == {}


def test_libvirt_cpu_time_grows_and_leaves_out_what_does_not_run() -> None:
    driver = LibvirtCompute(uri="test:///default")  # libvirt's in-process mock hypervisor
    try:
        first = driver.cpu_seconds(["test", "absent"])
        assert set(first) == {"test"}
        deadline = time.monotonic() + 10
        while driver.cpu_seconds(["test"])["test"] <= first["test"]:
            assert time.monotonic() < deadline, "cpu time never grew"
            time.sleep(0.01)
        driver.destroy("test")
        assert driver.cpu_seconds(["test"]) == {}
    finally:
        driver.close()


def test_fake_proxy_counts_what_the_test_sets() -> None:
    fake = FakeLoadBalancerDriver()
    server = lbd.Server("i-1_80", "10.0.0.1", 80)
    fake.apply(lbd.Balancer("lb-x", "ns", ("10.0.0.9",), backends=(lbd.Backend("tg-x", "HTTP", lbd.HealthCheck(), (server,)),)))
    assert fake.requests("lb-x") == {"tg-x": {"i-1_80": 0}}
    fake.served[("tg-x", "i-1_80")] = 41
    assert fake.requests("lb-x") == {"tg-x": {"i-1_80": 41}}
    assert fake.requests("lb-other") == {}


def test_show_stat_stot_parsed() -> None:
    text = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,type,addr\n"
            "tg1,i-1_80,0,0,0,1,,17,UP,2,10.0.1.10:80\n"
            "tg1,BACKEND,0,0,0,1,,17,UP,1,\n")
    assert [(s.name, s.stot) for s in parse_show_stat(text)] == [("i-1_80", 17)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def web() -> Iterator[int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not HAPROXY.exists(), reason="haproxy is not installed")
def test_haproxy_stot_counts_requests_not_connections(tmp_path: Path, web: int) -> None:
    """The driver's own ``requests`` over a haproxy it did not start (in no namespace: only the
    files of its layout), so nothing is made on the host but a process on loopback."""
    driver = HaproxyDriver(tmp_path, "ec2dt")
    p = driver.paths("lb-x")
    p.dir.mkdir(parents=True)
    front = _free_port()
    p.cfg.write_text(f"global\n    stats socket {p.socket} mode 600 level admin\n"
                     "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
                     f"frontend fe\n    bind 127.0.0.1:{front}\n    default_backend tg-x\n"
                     f"backend tg-x\n    server i-1_80 127.0.0.1:{web}\n")
    assert driver.requests("lb-x") == {}  # not running
    proc = subprocess.Popen([str(HAPROXY), "-f", str(p.cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    p.pid.write_text(f"{proc.pid}\n")  # as the driver's own start leaves it
    try:
        deadline = time.monotonic() + 10
        while driver.requests("lb-x") != {"tg-x": {"i-1_80": 0}}:
            assert proc.poll() is None and time.monotonic() < deadline, "haproxy did not start"
            time.sleep(0.02)
        conn = http.client.HTTPConnection("127.0.0.1", front, timeout=5)
        for _ in range(7):  # one connection, seven requests
            conn.request("GET", "/")
            conn.getresponse().read()
        conn.close()
        assert driver.requests("lb-x") == {"tg-x": {"i-1_80": 7}}
        assert [(s.name, s.stot) for s in RuntimeClient(str(p.socket)).servers()] == [("i-1_80", 7)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
