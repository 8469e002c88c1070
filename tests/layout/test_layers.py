"""The import graph of ``orchestrator/`` keeps its layers: no cycles, no import from a lower layer
into a higher one, and no function-local import hiding either (see docs/HACKING.md, "Layers").

Layers, low to high (a module may import its own layer and the ones below)::

    base      domain/ (errors, ids, states, lifecycle, catalogues), data_dir.py
    store     store/
    host      drivers/, images/, imds/, config.py
    runtime   runtime/
    services  services/
    api       api/
    root      server.py, cli/, status.py, hostscope.py (the composition root)

Function-local imports are allowed only in the composition root, only downward (or within the
root), and only where listed in ``LAZY_IN_ROOT`` with the reason they are lazy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import imports

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("orchestrator.domain", "orchestrator.data_dir")),
    ("store", ("orchestrator.store",)),
    ("host", ("orchestrator.drivers", "orchestrator.images", "orchestrator.imds", "orchestrator.config",
              "orchestrator.tls")),
    ("runtime", ("orchestrator.runtime",)),
    ("services", ("orchestrator.services",)),
    ("api", ("orchestrator.api",)),
    ("root", ("orchestrator.server", "orchestrator.cli", "orchestrator.status", "orchestrator.hostscope")),
]

# Lazy imports in the composition root: (importing module, imported module) -> why it is lazy.
LAZY_IN_ROOT: dict[tuple[str, str], str] = {
    # `ec2d` subcommands load only what they use: `ec2d credentials` or `ec2d image list` must not
    # pull in aiohttp, libvirt or pyroute2.
    ("orchestrator.cli.main", "orchestrator.api.app"): "only `serve` builds the app",
    ("orchestrator.cli.main", "orchestrator.drivers.network.public"): "only `serve --host-routes` checks the pool",
    ("orchestrator.cli.main", "orchestrator.hostscope"): "only `serve`/`uninstall` lock the data dir",
    ("orchestrator.cli.main", "orchestrator.server"): "only `serve` runs the server",
    ("orchestrator.cli.main", "orchestrator.store.sqlite"): "only `serve` opens the store",
    ("orchestrator.cli.main", "orchestrator.services.credentials"): "only `credentials`/`aws-profile`",
    ("orchestrator.cli.main", "orchestrator.status"): "only `status` probes the host",
    ("orchestrator.cli.main", "orchestrator.cli.image"): "only `image ...`",
    ("orchestrator.cli.main", "orchestrator.cli.ssh"): "only `ssh`",
    ("orchestrator.cli.main", "orchestrator.cli.usage"): "only `usage` reads the ledger",
    ("orchestrator.cli.main", "orchestrator.cli.zone"): "only `zone` writes zones' states",
    ("orchestrator.cli.image", "orchestrator.images.cache"): "image builds load on `image build|list|import`",
    ("orchestrator.cli.ssh", "orchestrator.services.public_ips"): "`ssh` reads the store, nothing else",
    ("orchestrator.cli.ssh", "orchestrator.services.bootstrap"): "`ssh` reads the store, nothing else",
    ("orchestrator.hostscope", "orchestrator.drivers.compute.libvirt_driver"): "libvirt only when sweeping",
    ("orchestrator.hostscope", "orchestrator.drivers.network.netlink"): "pyroute2 only when sweeping",
    ("orchestrator.hostscope", "orchestrator.drivers.network.names"): "with netlink, when sweeping",
    ("orchestrator.hostscope", "orchestrator.drivers.network.host_names"): "a crashed run's names, when sweeping",
    ("orchestrator.hostscope", "orchestrator.drivers.network.vpc"): "with netlink, when sweeping",
    ("orchestrator.hostscope", "orchestrator.drivers.network.public"): "with netlink, when sweeping",
    ("orchestrator.hostscope", "orchestrator.drivers.loadbalancer.haproxy"): "with netlink, when sweeping",
    ("orchestrator.server", "orchestrator.images.cache"): "built-in image builds start only with instances",
    ("orchestrator.server", "orchestrator.services.images"): "with the image cache",
    ("orchestrator.server", "orchestrator.drivers.compute.kvm_probe"): "drivers load only with instances",
    ("orchestrator.server", "orchestrator.drivers.compute.libvirt_driver"): "drivers load only with instances",
    ("orchestrator.server", "orchestrator.drivers.network.firewall"): "drivers load only with instances",
    ("orchestrator.server", "orchestrator.drivers.network.public"): "drivers load only with instances",
    ("orchestrator.server", "orchestrator.drivers.network.vpc"): "drivers load only with instances",
    ("orchestrator.server", "orchestrator.drivers.storage.volumes"): "drivers load only with instances",
    ("orchestrator.server", "orchestrator.drivers.loadbalancer.haproxy"): "drivers load only with instances",
    ("orchestrator.server", "orchestrator.imds.listen"): "the metadata service runs only with instances",
    ("orchestrator.server", "orchestrator.imds.threaded"): "the metadata service runs only with instances",
    ("orchestrator.status", "orchestrator.drivers.compute.kvm_probe"): "`status --no-probe` skips libvirt",
    ("orchestrator.status", "orchestrator.drivers.network.hostprep"): "pyroute2 only for the isolation checks",
    ("orchestrator.status", "orchestrator.drivers.network.netlink"): "pyroute2 only for the isolation checks",
}

ROOT_LAYER = "root"


def layer_of(module: str) -> str:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    if module in ("orchestrator",) or module.count(".") == 1 and _is_package(module):
        return "package"  # an empty package __init__ (orchestrator.api, ...) belongs to no layer
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def _is_package(module: str) -> bool:
    return (imports.ROOT.parent / module.replace(".", "/") / "__init__.py").exists()


RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def _edges() -> list[tuple[str, str, int, str]]:
    """(importer, imported, line, how) for every orchestrator import; how: top / type / local."""
    files = sorted(imports.ROOT.rglob("*.py"))
    known = {imports.module_name(f) for f in files}
    out = []
    for f in files:
        mod = imports.module_name(f)
        typed = _type_checking_lines(f)
        for target, line, nested in imports.imports_of(f, known):
            if target == mod or target.startswith(mod + "."):
                continue
            how = "type" if line in typed else "local" if nested else "top"
            out.append((mod, target, line, how))
    return out


def _type_checking_lines(path: Path) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def test_every_module_has_a_layer() -> None:
    for f in imports.ROOT.rglob("*.py"):
        layer_of(imports.module_name(f))


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for mod, target, _, _ in _edges():
        graph.setdefault(mod, set()).add(target)
    assert imports.cycles(graph) == []


def test_imports_only_go_down() -> None:
    upward = []
    for mod, target, line, _ in _edges():
        a, b = layer_of(mod), layer_of(target)
        if "package" in (a, b):
            continue
        if RANK[b] > RANK[a]:
            upward.append(f"{mod}:{line} ({a}) imports {target} ({b})")
    assert upward == [], "\n".join(upward)


def test_no_function_local_imports_outside_the_root() -> None:
    hidden = []
    for mod, target, line, how in _edges():
        if how != "local":
            continue
        if layer_of(mod) == ROOT_LAYER and (mod, target) in LAZY_IN_ROOT:
            continue
        hidden.append(f"{mod}:{line} imports {target} inside a function")
    assert hidden == [], "\n".join(hidden)


def test_lazy_root_imports_go_down() -> None:
    for (mod, target), why in LAZY_IN_ROOT.items():
        assert why, (mod, target)
        assert layer_of(mod) == ROOT_LAYER, f"{mod} is not in the composition root"
        assert RANK[layer_of(target)] <= RANK[ROOT_LAYER]


def test_allowlists_hold_no_stale_entries() -> None:
    """An entry for an import that no longer exists must go (so the lists only shrink)."""
    present = {(mod, target) for mod, target, _, _ in _edges()}
    assert sorted(set(LAZY_IN_ROOT) - present) == []
