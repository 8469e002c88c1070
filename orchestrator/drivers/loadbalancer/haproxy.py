"""``HaproxyDriver``: one HAProxy 2.6 process per load balancer, inside its VPC's namespace.

Files of balancer NAME, in ``RUN_DIR/lb/NAME/`` (mode 0700): ``haproxy.cfg`` (the whole model,
:mod:`.haproxy_config`), ``haproxy.pid``, ``admin.sock`` (the runtime API, mode 0600),
``loaded`` (digest of the structure the running process loaded: listeners, rules, backends and
their health checks, namespace; everything but the servers) and ``observed`` (what tells ``INIT``
from ``DOWN``: servers observed UP since they were added, :class:`Observed`).

The process runs as ``ip netns exec NS haproxy -f CFG -p PIDFILE -D``: daemonised, so it outlives
ec2d; a restarted ec2d adopts it by its pid file, ``/proc/PID/cmdline`` (``-f`` this file) and
``/proc/PID/ns/net`` (the balancer's namespace), then compares ``loaded`` with the model.
:meth:`HaproxyDriver.apply`:

* no live process (never started, killed, namespace re-created) -> write the file, start, wait
  until the admin socket answers with the new pid (polling with a deadline);
* same structure -> servers changed through the runtime API (add, delete, drain), file rewritten;
  the pid does not change and nothing is reloaded. A command HAProxy refuses (``del server`` while
  connections remain) falls back to a reload, the file being the truth;
* structure changed -> graceful reload: a new process takes the listening sockets over
  (``-x admin.sock``) and tells the old one to finish its connections and exit (``-sf OLDPID``).

Only processes whose command line names one of this driver's files are ever signalled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import procfs
from ..network import rootops
from .driver import Backend, Balancer, LoadBalancerDriver, LoadBalancerError, Server, ServerHealth
from .haproxy_config import FIXED_PREFIX, render, server_args, structure
from .haproxy_runtime import RuntimeApiError, RuntimeClient, ServerStat

log = logging.getLogger("ec2d.haproxy")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0
SOCKET_PATH_MAX = 107  # sun_path


@dataclass(frozen=True)
class LbPaths:
    dir: Path

    @property
    def cfg(self) -> Path:
        return self.dir / "haproxy.cfg"

    @property
    def pid(self) -> Path:
        return self.dir / "haproxy.pid"

    @property
    def socket(self) -> Path:
        return self.dir / "admin.sock"

    @property
    def loaded(self) -> Path:
        return self.dir / "loaded"

    @property
    def observed(self) -> Path:
        return self.dir / "observed"


# --------------------------------------------------------------------------- processes


def config_of(pid: int) -> str | None:
    """The ``-f`` file of a live haproxy process (None: not haproxy, or gone)."""
    argv = procfs.cmdline(pid)
    if not argv or os.path.basename(argv[0]) != "haproxy" or not procfs.alive(pid):
        return None
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "-f":
            return value
    return None


def haproxy_pids(under: Path) -> dict[int, str]:
    """Live haproxy processes whose configuration file is under ``under``: {pid: file}."""
    root = str(under).rstrip("/") + "/"
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            conf = config_of(int(entry))
            if conf is not None and conf.startswith(root):
                out[int(entry)] = conf
    return out


def _netns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (HAProxy's hard stop), SIGKILL after ``timeout``; returns once it is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not procfs.alive(pid):
                return
            time.sleep(0.01)
    raise LoadBalancerError(f"haproxy {pid} did not exit")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _alerts(res: rootops.Result) -> str:
    """HAProxy's ``[ALERT]`` lines without their prefix (its notices say nothing useful)."""
    alerts = [line.split(":", 1)[-1].strip() for line in res.stderr.splitlines() if "[ALERT]" in line]
    return "; ".join(alerts) or res.message


@dataclass
class Observed:
    """What tells a server that never was UP since it was added (``INIT``) from one that was.

    HAProxy 2.6 has no such state, so the driver keeps it in the file ``observed``: ``up``, the
    servers :meth:`HaproxyDriver.health` saw UP; ``added``, for servers added at runtime, the pid
    of the process and the server's ``chkdown`` right after the add (the forced DOWN counts as a
    transition: 1). A ``chkdown`` above that baseline means the server went UP and then DOWN
    between two looks. Servers a process loaded from its file get baseline 1: a server assumed UP
    at start whose first check fails counts one transition without ever having been up."""

    up: set[str]
    added: dict[str, tuple[int, int]]

    @classmethod
    def load(cls, path: Path) -> Observed:
        try:
            data = json.loads(_read(path) or "{}")
            return cls(set(data.get("up", [])), {k: (int(v[0]), int(v[1])) for k, v in data.get("added", {}).items()})
        except (ValueError, TypeError, IndexError, AttributeError):
            return cls(set(), {})

    def save(self, path: Path) -> None:
        _write(path, json.dumps({"up": sorted(self.up), "added": self.added}, sort_keys=True))

    def was_up(self, key: str, stat: ServerStat, pid: int) -> bool:
        if key in self.up:
            return True
        added_by, base = self.added.get(key, (None, 1))
        return stat.chkdown > (base if added_by == pid else 1)

    def forget(self, key: str) -> None:
        self.up.discard(key)
        self.added.pop(key, None)

    def keep_only(self, keys: set[str]) -> None:
        self.up &= keys
        self.added = {k: v for k, v in self.added.items() if k in keys}


def health_of(stat: ServerStat, seen_up: bool) -> ServerHealth:
    """One ``show stat`` server line as :class:`ServerHealth`.

    HAProxy 2.6 has no "initial" state: a server from the file starts UP with check ``INI``, one
    added at runtime is forced DOWN (:meth:`.RuntimeClient.add_server`) and climbs ``DOWN 1/R``...
    So ``INIT`` is reported while the server was never UP since it was added (``seen_up``,
    :class:`Observed`) and no check has failed: before the first check, or while successes
    accumulate to ``rise``."""
    status, check = stat.status, stat.check_status
    last = "" if check == "INI" else check
    code = stat.check_code if last else None
    if status.startswith("MAINT"):
        word = "MAINT"
    elif status.startswith("DRAIN") or (status.startswith("UP") and stat.weight == 0):
        word = "DRAIN"
    elif status.startswith("NOLB"):
        word = "NOLB"
    elif status == "no check":
        word = "NOCHECK"
    elif status.startswith("UP"):
        word = "UP" if last or seen_up else "INIT"
    elif status.startswith("DOWN"):
        word = "INIT" if not seen_up and (not last or last.endswith(("OK", "OKC"))) else "DOWN"
    else:
        word = status.split(" ", 1)[0]
    return ServerHealth(status=word, check=last, code=code)


def _is_draining(stat: ServerStat) -> bool:
    return stat.status.startswith("DRAIN") or stat.weight == 0


class HaproxyDriver(LoadBalancerDriver):
    """The real proxies of one data dir, under ``run_dir/lb``. ``prefix`` is the data dir's host
    object prefix (for logs; processes are found by their files, not by name)."""

    def __init__(self, run_dir: Path, prefix: str, haproxy: str = "/usr/sbin/haproxy") -> None:
        self.lb_dir = Path(run_dir) / "lb"
        self.prefix = prefix
        self.haproxy = haproxy
        self._lock = threading.RLock()

    def paths(self, name: str) -> LbPaths:
        if not name or "/" in name or name in (".", ".."):
            raise LoadBalancerError(f"bad load balancer name {name!r}")
        return LbPaths(self.lb_dir / name)

    # ------------------------------------------------------------------ processes

    def pid(self, name: str, netns: str | None = None) -> int | None:
        """The live process serving ``name`` (its pid file, command line, and with ``netns`` its
        network namespace checked), or None."""
        p = self.paths(name)
        try:
            pid = int(_read(p.pid).strip() or 0)
        except ValueError:
            return None
        if pid <= 0 or config_of(pid) != str(p.cfg):
            return None
        if netns is not None and _netns_id(f"/proc/{pid}/ns/net") != _netns_id(f"/run/netns/{netns}"):
            return None
        return pid

    def _kill_all(self, p: LbPaths) -> list[int]:
        pids = [pid for pid, conf in haproxy_pids(self.lb_dir).items() if conf == str(p.cfg)]
        for pid in pids:
            terminate(pid)
        return pids

    def _start(self, balancer: Balancer, p: LbPaths, old_pid: int | None) -> int:
        try:
            res = rootops.start_haproxy(balancer.netns, self.haproxy, str(p.cfg), str(p.pid),
                                        socket=str(p.socket), old_pid=old_pid)
        except rootops.CommandFailed as exc:
            raise LoadBalancerError(f"haproxy for {balancer.name} could not start: {exc}") from exc
        if not res.ok:
            raise LoadBalancerError(f"haproxy for {balancer.name} failed to start: {_alerts(res)}")
        client = RuntimeClient(str(p.socket))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            pid = self.pid(balancer.name, balancer.netns)
            if pid is not None and pid != old_pid and client.pid() == pid:
                return pid
            time.sleep(0.01)
        raise LoadBalancerError(f"haproxy for {balancer.name} started but its socket does not answer")

    def _write_cfg(self, p: LbPaths, text: str) -> bool:
        """Write the file if it changed, after ``haproxy -c`` accepted it (a refused file never
        replaces a good one). Returns whether it changed."""
        if _read(p.cfg) == text:
            return False
        new = p.dir / "haproxy.cfg.new"
        _write(new, text)
        try:
            res = rootops.check_haproxy(self.haproxy, str(new))
        except rootops.CommandFailed as exc:
            raise LoadBalancerError(f"cannot check haproxy configuration: {exc}") from exc
        if not res.ok:
            new.unlink(missing_ok=True)
            raise LoadBalancerError(f"haproxy refused the configuration of {p.dir.name}: {_alerts(res)}")
        os.replace(new, p.cfg)
        return True

    def _prune_observed(self, p: LbPaths, balancer: Balancer) -> None:
        obs = Observed.load(p.observed)
        before = (set(obs.up), dict(obs.added))
        obs.keep_only({f"{be.name}/{s.name}" for be in balancer.backends for s in be.servers})
        if (obs.up, obs.added) != before:
            obs.save(p.observed)

    # ------------------------------------------------------------------ the interface

    def apply(self, balancer: Balancer) -> None:
        self.sync(balancer)

    def sync(self, balancer: Balancer) -> str:
        """:meth:`apply`, returning what was done: ``started``, ``reloaded``, ``updated`` (runtime
        API only) or ``unchanged``."""
        with self._lock:
            p = self.paths(balancer.name)
            if len(str(p.socket)) > SOCKET_PATH_MAX:
                raise LoadBalancerError(f"socket path {p.socket} is too long for a unix socket")
            p.dir.mkdir(parents=True, exist_ok=True)
            os.chmod(p.dir, 0o700)
            text = render(balancer, str(p.socket))
            digest = structure(balancer, str(p.socket))
            pid = self.pid(balancer.name, balancer.netns)
            self._prune_observed(p, balancer)
            if pid is None:
                self._kill_all(p)  # a leftover: old process after a reload, one in a former namespace
                self._write_cfg(p, text)
                self._start(balancer, p, None)
                _write(p.loaded, digest)
                log.info("haproxy for %s started", balancer.name)
                return "started"
            if _read(p.loaded) != digest:
                return self._reload(balancer, p, pid, text, digest)
            self._write_cfg(p, text)
            try:
                changes = self._sync_servers(balancer, p, pid)
            except RuntimeApiError as exc:
                log.warning("haproxy for %s: %s; reloading instead", balancer.name, exc)
                return self._reload(balancer, p, pid, text, digest)
            return "updated" if changes else "unchanged"

    def _reload(self, balancer: Balancer, p: LbPaths, pid: int, text: str, digest: str) -> str:
        self._write_cfg(p, text)
        new = self._start(balancer, p, pid)
        _write(p.loaded, digest)
        log.info("haproxy for %s reloaded (pid %d -> %d)", balancer.name, pid, new)
        return "reloaded"

    def _sync_servers(self, balancer: Balancer, p: LbPaths, pid: int) -> int:
        """Bring the running servers to the model through the runtime API; returns the number of
        changes."""
        client = RuntimeClient(str(p.socket))
        have = {(s.backend, s.name): s for s in client.servers() if not s.backend.startswith(FIXED_PREFIX)}
        want: dict[tuple[str, str], tuple[Backend, Server]] = {
            (be.name, s.name): (be, s) for be in balancer.backends for s in be.servers}
        obs = Observed.load(p.observed)
        added: list[str] = []
        changes = 0
        for key in sorted(have.keys() - want.keys()):
            client.del_server(*key)
            obs.forget("/".join(key))
            changes += 1
        for key, (be, server) in sorted(want.items()):
            cur = have.get(key)
            if cur is not None and cur.addr != f"{server.address}:{server.port}":
                client.del_server(*key)
                cur = None
            if cur is None:
                obs.forget("/".join(key))
                client.add_server(be.name, server.name, server_args(server, be.health),
                                  checked=be.health.enabled, draining=server.draining)
                added.append("/".join(key))
                changes += 1
            elif _is_draining(cur) != server.draining:
                client.set_draining(be.name, server.name, server.draining)
                changes += 1
        if changes:
            if added:
                now = {f"{s.backend}/{s.name}": s.chkdown for s in client.servers()}
                obs.added.update({key: (pid, now.get(key, 1)) for key in added})
            obs.save(p.observed)
        return changes

    def health(self, name: str) -> Mapping[str, Mapping[str, ServerHealth]]:
        with self._lock:
            p = self.paths(name)
            pid = self.pid(name)
            if pid is None:
                return {}
            try:
                stats = RuntimeClient(str(p.socket)).servers()
            except RuntimeApiError:
                return {}
            obs = Observed.load(p.observed)
            before = set(obs.up)
            out: dict[str, dict[str, ServerHealth]] = {}
            for st in stats:
                if st.backend.startswith(FIXED_PREFIX):
                    continue
                key = f"{st.backend}/{st.name}"
                h = health_of(st, obs.was_up(key, st, pid))
                if h.status == "UP" or (h.status == "DRAIN" and h.check.endswith("OK")):
                    obs.up.add(key)
                out.setdefault(st.backend, {})[st.name] = h
            if obs.up != before:
                obs.save(p.observed)
            return out

    def requests(self, name: str) -> Mapping[str, Mapping[str, int]]:
        with self._lock:
            if self.pid(name) is None:
                return {}
            try:
                stats = RuntimeClient(str(self.paths(name).socket)).servers()
            except RuntimeApiError:
                return {}
        out: dict[str, dict[str, int]] = {}
        for st in stats:
            if not st.backend.startswith(FIXED_PREFIX):
                out.setdefault(st.backend, {})[st.name] = st.stot
        return out

    def running(self) -> Sequence[str]:
        try:
            names = sorted(os.listdir(self.lb_dir))
        except FileNotFoundError:
            return []
        return [n for n in names if self.pid(n) is not None]

    def remove(self, name: str) -> None:
        with self._lock:
            p = self.paths(name)
            self._kill_all(p)
            shutil.rmtree(p.dir, ignore_errors=True)

    def sweep(self) -> list[str]:
        """Kill every haproxy process of this run dir (by the files on its command line) and
        delete the balancers' files: ``ec2d uninstall`` and the test sweep. Returns what was
        killed, as ``NAME:PID``."""
        with self._lock:
            killed = []
            for pid, conf in sorted(haproxy_pids(self.lb_dir).items()):
                terminate(pid)
                killed.append(f"{Path(conf).parent.name}:{pid}")
            shutil.rmtree(self.lb_dir, ignore_errors=True)
            return killed
