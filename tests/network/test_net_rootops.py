"""Every ``ip`` and ``nft`` command of ec2d goes through drivers/network/rootops.py (pure: the
commands are recorded, nothing runs)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from orchestrator.drivers.network import rootops
from orchestrator.drivers.network.errors import NftError

ROOT = Path(__file__).resolve().parents[2] / "orchestrator"
ROOTOPS = ROOT / "drivers" / "network" / "rootops.py"


def _commands(tree: ast.AST) -> list[str]:
    """First words of list literals that look like command lines (``["nft", ...]``)."""
    return [n.elts[0].value for n in ast.walk(tree)
            if isinstance(n, ast.List) and n.elts and isinstance(n.elts[0], ast.Constant)
            and n.elts[0].value in ("ip", "nft", "modprobe", "dhcp_release")]


def test_no_other_module_runs_ip_or_nft() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOTOPS:
            continue
        tree = ast.parse(path.read_text(), str(path))
        offenders += [f"{path.relative_to(ROOT)}: {cmd}" for cmd in _commands(tree)]
        if path.parent.name in ("network", "firewall", "vpc", "public") and "drivers" in path.parts:
            imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                        for a in n.names} | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            if "subprocess" in imported:
                offenders.append(f"{path.relative_to(ROOT)}: imports subprocess")
    assert offenders == []
    assert _commands(ast.parse(ROOTOPS.read_text()))  # the scan does find them where they are


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], str | None]]:
    calls: list[tuple[list[str], str | None]] = []
    outcomes: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(argv: list[str], input: str | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
        calls.append((argv, input))
        if "boom" in argv:
            raise FileNotFoundError("no such program")
        return outcomes.get(" ".join(argv), subprocess.CompletedProcess(argv, 0, "out\n", ""))

    monkeypatch.setattr(rootops.subprocess, "run", run)
    ran.outcomes = outcomes  # type: ignore[attr-defined]
    return calls


def test_run_nft_is_one_transaction_from_stdin(ran: list[tuple[list[str], str | None]]) -> None:
    rootops.run_nft("table inet t {}\n")
    rootops.run_nft("flush ruleset\n", "ec2dt1-vpc-1")
    rootops.run_nft("table inet t {}\n", "ec2dt1-vpc-1", check_only=True)
    assert ran == [
        (["nft", "-f", "-"], "table inet t {}\n"),
        (["ip", "netns", "exec", "ec2dt1-vpc-1", "nft", "-f", "-"], "flush ruleset\n"),
        (["ip", "netns", "exec", "ec2dt1-vpc-1", "nft", "-c", "-f", "-"], "table inet t {}\n"),
    ]


def test_nft_refusal_and_missing_program_raise_nft_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "Error: syntax error\n")

    monkeypatch.setattr(rootops.subprocess, "run", refuse)
    with pytest.raises(NftError) as err:
        rootops.run_nft("nonsense", "ns1")
    assert err.value.stderr == "Error: syntax error\n" and "ns1" in str(err.value)

    def missing(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, 30)

    monkeypatch.setattr(rootops.subprocess, "run", missing)
    with pytest.raises(NftError):
        rootops.run_nft("table inet t {}\n")
    with pytest.raises(rootops.CommandFailed):
        rootops.netns_add("ns1")


def test_narrow_commands(ran: list[tuple[list[str], str | None]]) -> None:
    assert rootops.nft_list("ns1", "bridge", "ec2d_imds", "prerouting").stdout == "out\n"
    rootops.nft_delete_table(None, "inet", "ec2dt1_host")
    rootops.netns_add("ns1")
    rootops.netns_delete("ns1")
    rootops.neigh_flush("ns1", "10.0.1.5")
    rootops.start_dnsmasq("ns1", "/run/x/dnsmasq.conf")
    rootops.dhcp_release("ns1", "br0", "10.0.1.5", "02:00:00:00:00:01")
    assert [argv for argv, _ in ran] == [
        ["ip", "netns", "exec", "ns1", "nft", "list", "chain", "bridge", "ec2d_imds", "prerouting"],
        ["nft", "delete", "table", "inet", "ec2dt1_host"],
        ["ip", "netns", "add", "ns1"],
        ["ip", "netns", "delete", "ns1"],
        ["ip", "-n", "ns1", "neigh", "flush", "to", "10.0.1.5"],
        ["ip", "netns", "exec", "ns1", "dnsmasq", "--conf-file=/run/x/dnsmasq.conf"],
        ["ip", "netns", "exec", "ns1", "dhcp_release", "br0", "10.0.1.5", "02:00:00:00:00:01"],
    ]
    assert rootops.in_netns("ns1", ["ssh", "host"]) == ["ip", "netns", "exec", "ns1", "ssh", "host"]


PURE = ("model", "ranges", "compiler", "antispoof", "failclosed", "semantics", "driver", "fake")


@pytest.mark.parametrize("module", PURE)
def test_firewall_model_and_compiler_touch_no_host(module: str) -> None:
    """The SG model, compiler and fake import nothing that runs commands or opens netlink sockets, so
    services (validation) and API-only mode use them without root."""
    tree = ast.parse((ROOT / "drivers" / "network" / "firewall" / f"{module}.py").read_text())
    imported = {f"{n.module or ''}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    host = {"subprocess", "pyroute2", "rootops", "netlink", "hostprep", "loader", "nft_driver"}
    assert imported and not [m for m in imported if set(m.split(".")) & host]
