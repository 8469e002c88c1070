"""Every root-only command ec2d runs on the host network: ``ip``, ``nft``, ``modprobe`` and the
programs started inside a VPC namespace (dnsmasq, dhcp_release, haproxy).

One narrow function per operation, taking plain values (as Neutron's root-only entry points do),
so what ec2d may do as root can be read in one place and a test can see every command.
Links, addresses, routes and sysctls do not come here: they go through netlink
(:mod:`.netlink`, pyroute2). ``netns=None`` means the root namespace. Commands run with
``subprocess`` (fork+exec, safe in a threaded daemon) and a timeout; a command that cannot be run
at all raises :class:`CommandFailed`, one that runs and fails returns its :class:`Result` (or,
for :func:`run_nft`, raises :class:`NftError` with nft's message).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import NetworkDriverError, NftError

__all__ = [
    "CommandFailed",
    "NftError",
    "Result",
    "dhcp_release",
    "in_netns",
    "modprobe",
    "neigh_flush",
    "netns_add",
    "netns_delete",
    "nft_delete_table",
    "nft_list",
    "nft_version",
    "check_haproxy",
    "run_nft",
    "start_dnsmasq",
    "start_haproxy",
]

NFT_TIMEOUT = 30.0
IP_TIMEOUT = 30.0
HELPER_TIMEOUT = 10.0


class CommandFailed(NetworkDriverError):
    """A root command could not be run (missing program, timeout)."""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def message(self) -> str:
        """What the command said about its failure (stderr, else stdout, else the exit code)."""
        return (self.stderr or self.stdout).strip() or f"exit {self.returncode}"


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """The command line running ``argv`` inside ``netns`` (e.g. for ``ec2d ssh`` to exec)."""
    return list(argv) if netns is None else ["ip", "netns", "exec", netns, *argv]


def _run(argv: Sequence[str], *, stdin: str | None = None, timeout: float) -> Result:
    try:
        proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"running {' '.join(argv[:6])}: {exc}") from exc
    return Result(proc.returncode, proc.stdout, proc.stderr)


# --------------------------------------------------------------------------- nft


def run_nft(payload: str, netns: str | None = None, *, check_only: bool = False) -> None:
    """Load ``payload`` (an ``nft -f`` script) as ONE transaction: all of it or nothing.
    ``check_only``: validate with ``nft -c`` and change nothing. :class:`NftError` on refusal."""
    where = "the root namespace" if netns is None else netns
    args = ["nft", "-c", "-f", "-"] if check_only else ["nft", "-f", "-"]
    try:
        res = _run(in_netns(netns, args), stdin=payload, timeout=NFT_TIMEOUT)
    except CommandFailed as exc:
        raise NftError(f"running nft in {where}: {exc}") from exc
    if not res.ok:
        raise NftError(f"nft {'-c ' if check_only else ''}-f in {where} failed: {res.stderr.strip()}",
                       stderr=res.stderr)


def nft_list(netns: str | None, family: str, table: str, chain: str | None = None) -> Result:
    """``nft list table|chain``: the loaded table (or one chain of it) as nft prints it."""
    what = ["table", family, table] if chain is None else ["chain", family, table, chain]
    return _run(in_netns(netns, ["nft", "list", *what]), timeout=NFT_TIMEOUT)


def nft_delete_table(netns: str | None, family: str, table: str) -> Result:
    """``nft delete table``; a missing table is a failed result, not an exception."""
    return _run(in_netns(netns, ["nft", "delete", "table", family, table]), timeout=NFT_TIMEOUT)


def nft_version() -> Result | None:
    """``nft --version``; None when nft is not installed."""
    exe = shutil.which("nft")
    if exe is None:
        return None
    return _run([exe, "--version"], timeout=HELPER_TIMEOUT)


# --------------------------------------------------------------------------- ip


def netns_add(ns: str) -> Result:
    """``ip netns add`` (iproute2 does the /run/netns bind-mount dance)."""
    return _run(["ip", "netns", "add", ns], timeout=IP_TIMEOUT)


def netns_delete(ns: str) -> Result:
    return _run(["ip", "netns", "delete", ns], timeout=IP_TIMEOUT)


def neigh_flush(ns: str, ip: str) -> Result:
    """Forget the neighbour entry of ``ip`` in ``ns`` (its next owner has another MAC)."""
    return _run(["ip", "-n", ns, "neigh", "flush", "to", ip], timeout=HELPER_TIMEOUT)


# --------------------------------------------------------------------------- programs


def modprobe(module: str) -> Result:
    exe = shutil.which("modprobe") or "/sbin/modprobe"
    return _run([exe, module], timeout=IP_TIMEOUT)


def start_dnsmasq(ns: str, conf_file: str) -> Result:
    """Start dnsmasq inside ``ns`` (it daemonizes; its pid file says where it went)."""
    return _run(in_netns(ns, ["dnsmasq", f"--conf-file={conf_file}"]), timeout=IP_TIMEOUT)


def start_haproxy(ns: str, haproxy: str, conf_file: str, pid_file: str, *, socket: str | None = None,
                  old_pid: int | None = None) -> Result:
    """Start HAProxy inside ``ns`` as a daemon (it outlives ec2d; its pid file says where it went).
    With ``old_pid``: a graceful reload, the new process taking the listening sockets over from
    ``socket`` (``-x``) and telling the old one to finish its connections and exit (``-sf``)."""
    argv = [haproxy, "-f", conf_file, "-p", pid_file, "-D"]
    if old_pid is not None:
        argv += (["-x", socket] if socket else []) + ["-sf", str(old_pid)]
    return _run(in_netns(ns, argv), timeout=IP_TIMEOUT)


def check_haproxy(haproxy: str, conf_file: str) -> Result:
    """``haproxy -c``: parse a configuration without running it (binds nothing)."""
    return _run([haproxy, "-c", "-f", conf_file], timeout=HELPER_TIMEOUT)


def dhcp_release(ns: str, iface: str, ip: str, mac: str) -> Result:
    """Tell the namespace's dnsmasq to drop the dynamic lease of ``ip`` held by ``mac``."""
    return _run(in_netns(ns, ["dhcp_release", iface, ip, mac]), timeout=HELPER_TIMEOUT)
