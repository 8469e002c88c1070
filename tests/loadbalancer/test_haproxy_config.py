"""Rendering a Balancer to haproxy.cfg (pure), ELB wildcards as regexes, show stat parsing and the
mapping of HAProxy's server states to ServerHealth. The real HAProxy runs in test_haproxy.py;
here ``haproxy -c`` only parses the rendered text when the binary is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.drivers.loadbalancer.driver import (
    Action,
    Backend,
    Balancer,
    FixedResponse,
    HealthCheck,
    Listener,
    LoadBalancerError,
    Redirect,
    Rule,
    Server,
)
from orchestrator.drivers.loadbalancer.haproxy import Observed, health_of
from orchestrator.drivers.loadbalancer.haproxy_config import (
    expect_status,
    quote,
    render,
    server_args,
    structure,
    wildcard_regex,
)
from orchestrator.drivers.loadbalancer.haproxy_runtime import ServerStat, parse_show_info, parse_show_stat

SOCK = "/run/ec2dx/lb/lb-1/admin.sock"
HC = HealthCheck(path="/health", interval=10, timeout=4, healthy_threshold=3, unhealthy_threshold=2,
                 matcher="200-299")


def model(**kw: object) -> Balancer:
    servers = (Server("i-1_80", "10.0.1.10", 80), Server("i-2_80", "10.0.2.10", 80, draining=True))
    rules = (
        Rule(20, Action(fixed=FixedResponse(404, "text/plain", "nope")), host_patterns=("*.example.com",)),
        Rule(10, Action(backend="tg2"), path_patterns=("/api/*", "/v?"), host_patterns=("api.example.com",)),
    )
    base = dict(
        name="lb-1", netns="ec2dx-vpc-1", addresses=("10.0.1.5", "10.0.2.5"), idle_timeout=45,
        listeners=(Listener(80, "HTTP", Action(backend="tg1"), rules), Listener(5432, "TCP", Action(backend="tg3"))),
        backends=(Backend("tg1", "HTTP", HC, servers),
                  Backend("tg2", "HTTP", HealthCheck(matcher="200,202", port=8080), (Server("i-3_81", "10.0.1.11", 81),)),
                  Backend("tg3", "TCP", HealthCheck(protocol="TCP", timeout=10), (Server("i-4_5432", "10.0.1.12", 5432),))),
    )
    base.update(kw)
    return Balancer(**base)  # type: ignore[arg-type]


def section(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(header)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return [line.strip() for line in lines[start + 1:end]]


def test_wildcards_become_anchored_regexes() -> None:
    assert wildcard_regex("/api/*") == "^/api/.*$"
    assert wildcard_regex("/v?/x.json") == "^/v./x\\.json$"
    assert wildcard_regex("*.example.com") == "^.*\\.example\\.com$"
    assert wildcard_regex("/a+b(c)[d]{e}|f$^\\") == "^/a\\+b\\(c\\)\\[d\\]\\{e\\}\\|f\\$\\^\\\\$"
    cases = [("/api/*", "/api/users", True), ("/api/*", "/api", False), ("/api/*", "/API/x", False),
             ("/v?", "/v2", True), ("/v?", "/v22", False), ("/a.b", "/axb", False), ("*", "", True)]
    for pattern, path, hit in cases:
        assert bool(re.match(wildcard_regex(pattern), path)) is hit, (pattern, path)


def test_quote_escapes_what_haproxy_interprets() -> None:
    assert quote('say "hi" $HOME \\ # x') == '"say \\"hi\\" \\$HOME \\\\ # x"'
    assert quote("a\nb\tc\x01") == '"a\\nb\\tc\\x01"'


def test_matchers() -> None:
    assert expect_status("200") == "200"
    assert expect_status("200,202") == "200,202"
    assert expect_status("200-299") == "200-299"
    assert expect_status("200, 302") == "200,302"
    for bad in ("", "2xx", "200-", "200;reboot", "20"):
        with pytest.raises(LoadBalancerError):
            expect_status(bad)


def test_global_and_defaults() -> None:
    text = render(model(), SOCK)
    glob = section(text, "global")
    assert f'stats socket "{SOCK}" mode 600 level admin expose-fd listeners' in glob
    assert not any(line.startswith(("log ", "chroot", "user ", "group ", "daemon")) for line in text.splitlines())
    assert section(text, "defaults")[:3] == ["timeout connect 5s", "timeout client 45s", "timeout server 45s"]


def test_http_frontend_binds_every_address_and_orders_rules_by_priority() -> None:
    front = section(render(model(), SOCK), "frontend ln_80")
    assert front[:3] == ["mode http", "bind 10.0.1.5:80", "bind 10.0.2.5:80"]
    assert "option forwardfor" in front
    rules = [line for line in front if line.startswith(("acl", "use_backend", "default_backend"))]
    assert rules == [
        'acl r10_path path_reg "^/api/.*\\$" "^/v.\\$"',
        'acl r10_host req.hdr(host),field(1,:) -m reg -i "^api\\\\.example\\\\.com\\$"',
        "use_backend tg2 if r10_path r10_host",
        'acl r20_host req.hdr(host),field(1,:) -m reg -i "^.*\\\\.example\\\\.com\\$"',
        "use_backend _fixed_80_20 if r20_host",
        "default_backend tg1",
    ]
    fixed = section(render(model(), SOCK), "backend _fixed_80_20")
    assert fixed == ["mode http", 'http-request return status 404 content-type "text/plain" string "nope"']


def test_tcp_frontend() -> None:
    front = section(render(model(), SOCK), "frontend ln_5432")
    assert front == ["mode tcp", "bind 10.0.1.5:5432", "bind 10.0.2.5:5432", "default_backend tg3"]


def test_backends_health_checks_and_servers() -> None:
    text = render(model(), SOCK)
    assert section(text, "backend tg1") == [
        "mode http", "balance roundrobin", "timeout check 4s",
        'option httpchk GET "/health"', "http-check expect status 200-299",
        "server i-1_80 10.0.1.10:80 check inter 10s fall 2 rise 3",
        "server i-2_80 10.0.2.10:80 check inter 10s fall 2 rise 3 weight 0",
    ]
    tg2 = section(text, "backend tg2")
    assert "http-check expect status 200,202" in tg2
    assert tg2[-1] == "server i-3_81 10.0.1.11:81 check inter 30s fall 2 rise 5 port 8080"
    assert section(text, "backend tg3") == [
        "mode tcp", "balance roundrobin", "timeout check 10s",
        "server i-4_5432 10.0.1.12:5432 check inter 30s fall 2 rise 5",
    ]
    off = HealthCheck(enabled=False)
    assert server_args(Server("x", "10.0.0.1", 80), off) == ["10.0.0.1:80"]
    assert "option httpchk" not in "\n".join(section(render(model(backends=(Backend("tg1", "HTTP", off),
                                                                                     Backend("tg2", "HTTP", off),
                                                                                     Backend("tg3", "TCP", off))), SOCK),
                                                             "backend tg1"))


def test_fixed_response_body_is_quoted_and_empty_body_sends_none() -> None:
    body = 'a "b" $c\nd'
    li = Listener(80, "HTTP", Action(fixed=FixedResponse(503, "application/json", body)))
    text = render(model(listeners=(li,)), SOCK)
    assert section(text, "frontend ln_80")[-1] == "default_backend _fixed_80_default"
    assert section(text, "backend _fixed_80_default")[-1] == (
        'http-request return status 503 content-type "application/json" string "a \\"b\\" \\$c\\nd"')
    li = Listener(80, "HTTP", Action(fixed=FixedResponse(204)))
    assert section(render(model(listeners=(li,)), SOCK), "backend _fixed_80_default")[-1] == \
        "http-request return status 204"


def test_structure_ignores_servers_only() -> None:
    base = structure(model(), SOCK)
    b = model()
    moved = model(backends=(Backend("tg1", "HTTP", HC, (Server("i-9_80", "10.0.3.3", 80),)), *b.backends[1:]))
    assert structure(moved, SOCK) == base
    assert structure(model(idle_timeout=60), SOCK) != base
    assert structure(model(netns="ec2dx-vpc-2"), SOCK) != base
    other_hc = model(backends=(Backend("tg1", "HTTP", HealthCheck(), b.backends[0].servers), *b.backends[1:]))
    assert structure(other_hc, SOCK) != base
    assert structure(model(addresses=("10.0.1.5",)), SOCK) != base


SPLIT_RULES = (
    Rule(30, Action(weighted=(("tg1", 1), ("tg2", 3), ("tg3", 0))), path_patterns=("/split",)),
    Rule(40, Action(redirect=Redirect(protocol="HTTPS", port="443", query="a=100%&#{query}", status=302)),
         path_patterns=("/old",)),
)


def split_model() -> Balancer:
    return model(listeners=(Listener(80, "HTTP", Action(weighted=(("tg1", 1), ("tg2", 1))), SPLIT_RULES),))


def test_weighted_forward_and_redirect_lines() -> None:
    text = render(split_model(), SOCK)
    front = section(text, "frontend ln_80")
    assert "http-request set-var(txn.w_30) rand(4)" in front  # weight 0: tg3 never drawn
    assert "use_backend tg1 if r30_path { var(txn.w_30) -m int ge 0 } { var(txn.w_30) -m int lt 1 }" in front
    assert "use_backend tg2 if r30_path { var(txn.w_30) -m int ge 1 } { var(txn.w_30) -m int lt 4 }" in front
    assert not [line for line in front if "use_backend tg3" in line]
    assert "use_backend _redir_80_40 if r40_path" in front
    assert front[-4:] == ["http-request set-var(txn.w_default) rand(2)",
                          "use_backend tg1 if { var(txn.w_default) -m int ge 0 } { var(txn.w_default) -m int lt 1 }",
                          "use_backend tg2 if { var(txn.w_default) -m int ge 1 } { var(txn.w_default) -m int lt 2 }",
                          "default_backend tg1"]
    assert section(text, "backend _redir_80_40") == [
        "mode http",
        'http-request redirect location "https://%[req.hdr(host),field(1,:)]:443/%[path,regsub(^/,)]?a=100%%&%[query]"'
        " code 302 if { query -m len gt 0 }",
        'http-request redirect location "https://%[req.hdr(host),field(1,:)]:443/%[path,regsub(^/,)]?a=100%%&"'
        " code 302"]


def test_invalid_models_are_refused() -> None:
    with pytest.raises(LoadBalancerError, match="outside 0-999"):
        render(model(listeners=(Listener(80, "HTTP", Action(weighted=(("tg1", 1000), ("tg2", 1)))),)), SOCK)
    with pytest.raises(LoadBalancerError, match="unknown backend"):
        render(model(listeners=(Listener(80, "HTTP", Action(weighted=(("tg1", 1), ("nope", 1)))),)), SOCK)
    with pytest.raises(LoadBalancerError, match="not 301 or 302"):
        render(model(listeners=(Listener(80, "HTTP", Action(redirect=Redirect(status=303))),)), SOCK)
    with pytest.raises(LoadBalancerError, match="HTTP listener"):
        render(model(listeners=(Listener(80, "TCP", Action(redirect=Redirect(port="81"))),)), SOCK)
    with pytest.raises(LoadBalancerError, match="unknown backend"):
        render(model(listeners=(Listener(80, "HTTP", Action(backend="nope")),)), SOCK)
    with pytest.raises(LoadBalancerError, match="HTTP listener"):
        render(model(listeners=(Listener(80, "TCP", Action(fixed=FixedResponse(200))),)), SOCK)
    with pytest.raises(LoadBalancerError, match="bad server name"):
        render(model(listeners=(), backends=(Backend("tg1", "HTTP", HC, (Server("a b", "10.0.0.1", 80),)),)),
               SOCK)
    with pytest.raises(LoadBalancerError, match="duplicate listener"):
        li = Listener(80, "HTTP", Action(backend="tg1"))
        render(model(listeners=(li, li)), SOCK)


@pytest.mark.skipif(shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(),
                    reason="needs haproxy")
def test_haproxy_accepts_the_rendered_file(tmp_path: Path) -> None:
    for n, balancer in enumerate((model(), split_model())):
        cfg = tmp_path / f"haproxy{n}.cfg"
        cfg.write_text(render(balancer, str(tmp_path / "admin.sock")))
        res = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr


SHOW_STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,addr
ln_80,FRONTEND,,,0,1,4096,1,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,,,0,
tg1,i-1_80,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,3,1,,0,,2,0,,0,L7OK,200,1,0,10.0.1.10:80
tg1,i-2_80,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/3,1,1,0,0,1,1,1,,1,3,2,,0,,2,0,,0,* L4CON,,0,0,10.0.2.10:80
tg1,BACKEND,0,0,0,0,410,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,3,0,,0,,1,0,,0,,,,0,
"""


def test_parse_show_stat() -> None:
    servers = parse_show_stat(SHOW_STAT)
    assert [(s.backend, s.name, s.status, s.check_status, s.check_code, s.addr, s.chkdown) for s in servers] == [
        ("tg1", "i-1_80", "UP", "L7OK", 200, "10.0.1.10:80", 0),
        ("tg1", "i-2_80", "DOWN 1/3", "L4CON", None, "10.0.2.10:80", 1),
    ]
    assert parse_show_info("Name: HAProxy\nPid: 42\n")["Pid"] == "42"


def stat(status: str, check: str = "L7OK", code: int | None = 200, weight: int = 1) -> ServerStat:
    return ServerStat("tg1", "s", status, check, code, weight, "10.0.0.1:80", 0)


def test_health_mapping() -> None:
    def h(st: ServerStat, seen: bool = False) -> tuple[str, str, int | None]:
        r = health_of(st, seen)
        return r.status, r.check, r.code

    assert h(stat("UP")) == ("UP", "L7OK", 200)
    assert h(stat("UP 1/2", "INI", None)) == ("INIT", "", None)  # from the file, no check yet
    assert h(stat("UP 1/2", "INI", None), seen=True) == ("UP", "", None)  # was UP before a restart
    assert h(stat("DOWN", "INI", None)) == ("INIT", "", None)  # added at runtime, forced down
    assert h(stat("DOWN 1/3")) == ("INIT", "L7OK", 200)  # climbing towards rise
    assert h(stat("DOWN 1/3"), seen=True) == ("DOWN", "L7OK", 200)  # was UP: recovering
    assert h(stat("DOWN", "L7STS", 500)) == ("DOWN", "L7STS", 500)
    assert h(stat("DOWN", "L4CON", None)) == ("DOWN", "L4CON", None)
    assert h(stat("DOWN", "L4TOUT", None), seen=True) == ("DOWN", "L4TOUT", None)
    assert h(stat("DRAIN")) == ("DRAIN", "L7OK", 200)
    assert h(stat("UP", weight=0)) == ("DRAIN", "L7OK", 200)  # draining by the file's weight 0
    assert h(stat("MAINT", "", None)) == ("MAINT", "", None)
    assert h(stat("NOLB")) == ("NOLB", "L7OK", 200)
    assert h(stat("no check", "", None)) == ("NOCHECK", "", None)


def test_observed_baselines(tmp_path: Path) -> None:
    def st(chkdown: int) -> ServerStat:
        return ServerStat("tg1", "s", "DOWN 1/3", "L7OK", 200, 1, "10.0.0.1:80", chkdown)

    obs = Observed(set(), {"tg1/s": (42, 1)})
    assert not obs.was_up("tg1/s", st(1), 42)  # only the forced DOWN of the add
    assert obs.was_up("tg1/s", st(2), 42)  # went UP, then DOWN again
    assert not obs.was_up("tg1/s", st(1), 43)  # another process: loaded from the file, baseline 1
    assert obs.was_up("tg1/s", st(2), 43)
    obs.up.add("tg1/s")
    assert obs.was_up("tg1/s", st(0), 43)
    obs.save(tmp_path / "observed")
    again = Observed.load(tmp_path / "observed")
    assert (again.up, again.added) == ({"tg1/s"}, {"tg1/s": (42, 1)})
    again.keep_only(set())
    assert (again.up, again.added) == (set(), {})
    (tmp_path / "bad").write_text("[1, 2")
    assert Observed.load(tmp_path / "bad").up == set()


def test_backends_connect_from_the_source_address(tmp_path: Path) -> None:
    """With a ``source`` every backend (its servers and their checks) connects from that address
    (a node's: the targets' security groups see the load balancer's group); haproxy accepts it."""
    assert not any(line.startswith("source") for line in section(render(model(), SOCK), "backend tg1"))
    text = render(model(source="10.0.1.200"), str(tmp_path / "admin.sock"))
    for name in ("tg1", "tg2", "tg3"):
        assert "source 10.0.1.200" in section(text, f"backend {name}")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    res = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    with pytest.raises(LoadBalancerError):
        render(model(source="not-an-address"), SOCK)
