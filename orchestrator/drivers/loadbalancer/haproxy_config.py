"""Rendering a :class:`~.driver.Balancer` to ``haproxy.cfg`` text (pure: no files, no processes).

The file is the whole model, servers included, so a reload or a restart from it keeps every target
(servers added through the runtime API are written here too). Layout:

* ``global``: the admin stats socket (``expose-fd listeners``, so a reload takes the listening
  sockets over with ``-x``), no ``log`` line (nothing goes to syslog), ``hard-stop-after`` so an
  old process finishing its connections after a reload cannot linger for ever;
* ``defaults``: ``timeout connect 5s``, client/server timeouts = the idle timeout, ``retries`` +
  ``option redispatch`` (a connection refused by a target that just died is retried on another);
* one ``frontend ln_PORT`` per listener binding the port on every node address; HTTP listeners
  add ``X-Forwarded-For``/``-Proto``/``-Port`` as ALB does; rules become ACLs (ELB wildcards
  compiled to anchored regexes) evaluated by ascending priority, then the default action;
* one ``backend`` per target group (``balance roundrobin``, dynamic, as ``add server`` requires),
  its health check, and one ``server`` line per target; a fixed response or a redirect is a small
  backend of its own (``_fixed_PORT_PRIORITY``, ``_redir_PORT_PRIORITY``) so it keeps its place
  among the ``use_backend`` rules (HAProxy evaluates every ``http-request`` rule before any
  ``use_backend``);
* a forward to several target groups draws one number per request (``rand(total weight)`` in
  ``txn.w_PRIORITY``) and sends it to the group whose cumulative weight range holds it.

:func:`structure` is the file without its server lines: what can only change by a reload. Two
models with the same structure differ only in targets, which the runtime API changes in place.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from .driver import (
    Action,
    Backend,
    Balancer,
    HealthCheck,
    Listener,
    LoadBalancerError,
    Redirect,
    Rule,
    Server,
)

CONNECT_TIMEOUT = "5s"
MAXCONN = 4096
HARD_STOP_AFTER = "120s"
RETRIES = 3
FIXED_PREFIX = "_fixed_"
REDIRECT_PREFIX = "_redir_"
# ELB's redirect placeholders as HAProxy sample expressions (log-format)
_PLACEHOLDERS = {
    "#{protocol}": "http",  # listeners are HTTP
    "#{host}": "%[req.hdr(host),field(1,:)]",
    "#{port}": "%[dst_port]",
    "#{path}": "%[path,regsub(^/,)]",
    "#{query}": "%[query]",
}
_PLACEHOLDER = re.compile(r"#\{(?:protocol|host|port|path|query)\}")

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # what HAProxy accepts in proxy and server names
_MATCHER = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def quote(text: str) -> str:
    """``text`` as one weakly quoted HAProxy word: backslash, double quote and ``$`` (environment
    expansion) escaped, control characters as ``\\n``/``\\r``/``\\t``/``\\xNN``."""
    out = []
    for ch in text:
        if ch in '\\"$':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise LoadBalancerError(f"bad {what} name {name!r} for haproxy (letters, digits, '-_.:')")
    return name


def wildcard_regex(pattern: str) -> str:
    """An ELB path or host pattern (``*`` any run of characters, ``?`` exactly one) as an anchored
    regular expression matching exactly what the pattern matches."""
    out = ["^"]
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    out.append("$")
    return "".join(out)


def expect_status(matcher: str) -> str:
    """ELB's ``HttpCode`` matcher (``200``, ``200,202``, ``200-299``) as HAProxy's
    ``http-check expect status`` list (same syntax: comma-separated codes and ranges)."""
    value = matcher.replace(" ", "")
    if not _MATCHER.match(value):
        raise LoadBalancerError(f"bad health check matcher {matcher!r}")
    return value


def check_args(health: HealthCheck) -> list[str]:
    """The health-check words of a ``server`` line (and of ``add server``); none when disabled."""
    if not health.enabled:
        return []
    args = ["check", "inter", f"{health.interval}s", "fall", str(health.unhealthy_threshold),
            "rise", str(health.healthy_threshold)]
    if health.port is not None:
        args += ["port", str(health.port)]
    return args


def server_args(server: Server, health: HealthCheck) -> list[str]:
    """``ADDR:PORT`` and the options of one server, as the file and ``add server`` both take them.
    A draining server has weight 0 in the file, so a reload keeps it out of rotation (the runtime
    API also puts it in state ``drain``)."""
    args = [f"{server.address}:{server.port}", *check_args(health)]
    if server.draining:
        args += ["weight", "0"]
    return args


# --------------------------------------------------------------------------- sections


def _global(socket_path: str) -> list[str]:
    return [
        "global",
        f"    stats socket {quote(socket_path)} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        f"    maxconn {MAXCONN}",
        f"    hard-stop-after {HARD_STOP_AFTER}",
        "",
    ]


def _defaults(balancer: Balancer) -> list[str]:
    idle = f"{balancer.idle_timeout}s"
    return [
        "defaults",
        f"    timeout connect {CONNECT_TIMEOUT}",
        f"    timeout client {idle}",
        f"    timeout server {idle}",
        f"    retries {RETRIES}",
        "    option redispatch",
        "",
    ]


def fixed_backend_name(listener: Listener, rule: Rule | None) -> str:
    return f"{FIXED_PREFIX}{listener.port}_{'default' if rule is None else rule.priority}"


def redirect_backend_name(listener: Listener, rule: Rule | None) -> str:
    return f"{REDIRECT_PREFIX}{listener.port}_{'default' if rule is None else rule.priority}"


def _target(listener: Listener, action: Action, rule: Rule | None, backends: set[str]) -> str:
    """The one backend ``action`` uses (a weighted forward: its first group with weight)."""
    if action.fixed is not None or action.redirect is not None:
        if listener.protocol != "HTTP":
            raise LoadBalancerError(f"fixed responses and redirects need an HTTP listener (port {listener.port})")
        return (fixed_backend_name if action.fixed is not None else redirect_backend_name)(listener, rule)
    if action.weighted:
        return _weights(listener, action, backends)[0][0]
    if action.backend is None or action.backend not in backends:
        raise LoadBalancerError(f"listener {listener.port} forwards to unknown backend {action.backend!r}")
    return action.backend


def _weights(listener: Listener, action: Action, backends: set[str]) -> list[tuple[str, int]]:
    """The weighted forward's groups that get requests (all of them, equally, if every weight is 0)."""
    for name, weight in action.weighted:
        if name not in backends:
            raise LoadBalancerError(f"listener {listener.port} forwards to unknown backend {name!r}")
        if not 0 <= weight <= 999:
            raise LoadBalancerError(f"target group weight {weight} is outside 0-999")
    if listener.protocol != "HTTP" and len(action.weighted) > 1:
        raise LoadBalancerError(f"weighted forwards need an HTTP listener (port {listener.port})")
    chosen = [(n, w) for n, w in action.weighted if w > 0]
    return chosen or [(n, 1) for n, _ in action.weighted]


def _use_lines(listener: Listener, action: Action, rule: Rule | None, backends: set[str],
               conditions: list[str]) -> list[str]:
    """``use_backend`` lines for ``action`` under ``conditions`` (ACL names)."""
    groups = _weights(listener, action, backends) if action.weighted else []
    if len(groups) <= 1:
        cond = f" if {' '.join(conditions)}" if conditions else ""
        return [f"    use_backend {_target(listener, action, rule, backends)}{cond}"]
    var = f"txn.w_{'default' if rule is None else rule.priority}"
    lines = [f"    http-request set-var({var}) rand({sum(w for _, w in groups)})"]
    low = 0
    for name, weight in groups:
        drawn = [f"{{ var({var}) -m int ge {low} }}", f"{{ var({var}) -m int lt {low + weight} }}"]
        lines.append(f"    use_backend {name} if {' '.join([*conditions, *drawn])}")
        low += weight
    return lines


def location(redirect: Redirect, with_query: bool) -> str:
    """The redirect's Location as an HAProxy log-format string (quoted): literal text escaped,
    ELB's placeholders as sample fetches; ``with_query``: the request has a query string."""
    def fmt(component: str) -> str:
        out, last = [], 0
        for m in _PLACEHOLDER.finditer(component):
            out.append(component[last:m.start()].replace("%", "%%"))
            out.append(_PLACEHOLDERS[m.group(0)])
            last = m.end()
        out.append(component[last:].replace("%", "%%"))
        return "".join(out)

    text = f"{fmt(redirect.protocol).lower()}://{fmt(redirect.host)}:{fmt(redirect.port)}{fmt(redirect.path)}"
    query = fmt(redirect.query if with_query else redirect.query.replace("#{query}", ""))
    if query:  # a request without a query string: "#{query}" is empty, "?" only if text is left
        text += "?" + query
    return quote(text)


def _rule_lines(listener: Listener, rule: Rule, backends: set[str]) -> list[str]:
    acls, names = [], []
    if rule.path_patterns:
        name = f"r{rule.priority}_path"
        pats = " ".join(quote(wildcard_regex(p)) for p in rule.path_patterns)
        acls.append(f"    acl {name} path_reg {pats}")
        names.append(name)
    if rule.host_patterns:
        name = f"r{rule.priority}_host"
        pats = " ".join(quote(wildcard_regex(p)) for p in rule.host_patterns)
        acls.append(f"    acl {name} req.hdr(host),field(1,:) -m reg -i {pats}")
        names.append(name)
    return [*acls, *_use_lines(listener, rule.action, rule, backends, names)]


def _frontend(balancer: Balancer, listener: Listener, backends: set[str]) -> list[str]:
    if listener.protocol not in ("HTTP", "TCP"):
        raise LoadBalancerError(f"unsupported listener protocol {listener.protocol!r}")
    http = listener.protocol == "HTTP"
    lines = [f"frontend ln_{listener.port}", f"    mode {'http' if http else 'tcp'}"]
    lines += [f"    bind {addr}:{listener.port}" for addr in balancer.addresses]
    if http:
        lines += [
            "    option forwardfor",
            "    http-request set-header X-Forwarded-Proto http",
            f"    http-request set-header X-Forwarded-Port {listener.port}",
        ]
        for rule in sorted(listener.rules, key=lambda r: r.priority):
            lines += _rule_lines(listener, rule, backends)
    elif listener.rules:
        raise LoadBalancerError(f"rules need an HTTP listener (port {listener.port})")
    if listener.default.weighted and http:
        lines += _use_lines(listener, listener.default, None, backends, [])
    lines += [f"    default_backend {_target(listener, listener.default, None, backends)}", ""]
    return lines


def _redirect_backend(listener: Listener, rule: Rule | None, redirect: Redirect) -> list[str]:
    if redirect.status not in (301, 302):
        raise LoadBalancerError(f"redirect status {redirect.status} is not 301 or 302")
    return [f"backend {redirect_backend_name(listener, rule)}", "    mode http",
            f"    http-request redirect location {location(redirect, True)} code {redirect.status}"
            " if { query -m len gt 0 }",
            f"    http-request redirect location {location(redirect, False)} code {redirect.status}", ""]


def _fixed_backends(listener: Listener) -> list[str]:
    actions = [(None, listener.default)] + [(r, r.action) for r in listener.rules]
    lines: list[str] = []
    for rule, action in actions:
        if action.redirect is not None:
            lines += _redirect_backend(listener, rule, action.redirect)
        fixed = action.fixed
        if fixed is None:
            continue
        if not 200 <= fixed.status <= 599:
            raise LoadBalancerError(f"fixed response status {fixed.status} is outside 200-599")
        ret = f"    http-request return status {fixed.status}"
        if fixed.body:
            ret += f" content-type {quote(fixed.content_type)} string {quote(fixed.body)}"
        lines += [f"backend {fixed_backend_name(listener, rule)}", "    mode http", ret, ""]
    return lines


def _backend(backend: Backend, with_servers: bool, source: str | None = None) -> list[str]:
    health = backend.health
    lines = [f"backend {check_name(backend.name, 'backend')}",
             f"    mode {'http' if backend.protocol == 'HTTP' else 'tcp'}",
             "    balance roundrobin",
             f"    timeout check {health.timeout}s"]
    if source is not None:
        try:
            lines.append(f"    source {ipaddress.IPv4Address(source)}")  # servers and their checks
        except ValueError:
            raise LoadBalancerError(f"bad source address {source!r}") from None
    if health.enabled and health.protocol == "HTTP":
        lines += [f"    option httpchk GET {quote(health.path)}",
                  f"    http-check expect status {expect_status(health.matcher)}"]
    elif health.enabled and health.protocol != "TCP":
        raise LoadBalancerError(f"unsupported health check protocol {health.protocol!r}")
    if with_servers:
        for server in sorted(backend.servers, key=lambda s: s.name):
            words = " ".join(server_args(server, health))
            lines.append(f"    server {check_name(server.name, 'server')} {words}")
    return [*lines, ""]


def render(balancer: Balancer, socket_path: str, *, with_servers: bool = True) -> str:
    """The whole ``haproxy.cfg`` of ``balancer``; ``socket_path`` is its admin socket."""
    check_name(balancer.name, "load balancer")
    names = [b.name for b in balancer.backends]
    if len(set(names)) != len(names):
        raise LoadBalancerError(f"duplicate backend names in {balancer.name}")
    if any(n.startswith((FIXED_PREFIX, REDIRECT_PREFIX)) for n in names):
        raise LoadBalancerError(f"backend names may not start with {FIXED_PREFIX!r} or {REDIRECT_PREFIX!r}")
    ports = [li.port for li in balancer.listeners]
    if len(set(ports)) != len(ports):
        raise LoadBalancerError(f"duplicate listener ports in {balancer.name}")
    if balancer.listeners and not balancer.addresses:
        raise LoadBalancerError(f"{balancer.name} has listeners but no address")
    lines = [f"# generated by ec2d for {balancer.name}: do not edit", ""]
    lines += _global(socket_path) + _defaults(balancer)
    for listener in sorted(balancer.listeners, key=lambda li: li.port):
        lines += _frontend(balancer, listener, set(names))
        if listener.protocol == "HTTP":
            lines += _fixed_backends(listener)
    for backend in sorted(balancer.backends, key=lambda b: b.name):
        lines += _backend(backend, with_servers, balancer.source)
    return "\n".join(lines)


def structure(balancer: Balancer, socket_path: str) -> str:
    """A digest of the file without its server lines: equal digests mean the running process can
    be brought to the model through the runtime API alone (servers added, removed, drained)."""
    text = render(balancer, socket_path, with_servers=False)
    # Servers are out of the text, but their check options come from the backend's health check,
    # which is part of it; netns is where the process runs: a move needs a restart.
    text += f"\n# netns {balancer.netns}\n"
    return hashlib.sha256(text.encode()).hexdigest()

