"""``ec2d ssh INSTANCE_ID``: an SSH session into an instance, the way its users would reach it:
through the public network when it has a reachable public IP, else from inside its VPC.

It runs the system's ``ssh`` inside the right network namespace (root needed, as for ec2d).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from orchestrator.config import Config
from orchestrator.drivers.network import rootops


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ssh", help="SSH into an instance (through its public IP or inside its VPC)")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.add_argument("instance_id")
    p.add_argument("-i", "--identity", help="private key file (default: ./<KeyName>.pem or ~/.ssh/<KeyName>.pem)")
    p.add_argument("-l", "--user", help="login user (default: the image's, e.g. ec2-user or admin)")
    p.add_argument("--private", action="store_true", help="use the private IP from inside the VPC")
    p.add_argument("--prefix", default=os.environ.get("EC2D_PREFIX"),
                   help="host-object prefix (default: the data dir's own)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")
    p.set_defaults(func=cmd_ssh)


def plan(config: Config, instance_id: str, private: bool = False) -> tuple[str, str, str, str | None]:
    """(network namespace, address, login user, key name) for reaching the instance."""
    from orchestrator.services import bootstrap, public_ips

    backend = bootstrap.open(config)
    try:
        rec = backend.store.get(instance_id, "instance")
        if rec is None:
            raise SystemExit(f"ec2d ssh: no instance {instance_id}")
        if rec.state != "running":
            raise SystemExit(f"ec2d ssh: {instance_id} is {rec.state}")
        image = backend.store.get(rec.data["ImageId"])
        user = (image.data.get("login_user") if image else None) or "ec2-user"
        public = public_ips.public_ip_of(backend, rec)
        subnet = backend.store.get(rec.data["SubnetId"])
        if public and not private and subnet is not None and public_ips.subnet_is_public(backend, subnet):
            return f"{config.prefix}-public", public, user, rec.data.get("KeyName")
        address = rec.data.get("PrivateIpAddress")
        if not address:  # an IPv6-only subnet's instance: its primary interface's first IPv6 address
            eni = backend.store.get(rec.data["NetworkInterfaceId"])
            address = ((eni.data.get("Ipv6Addresses") if eni is not None else None) or [""])[0]
        return f"{config.prefix}-{rec.data['VpcId']}", address, user, rec.data.get("KeyName")
    finally:
        backend.close()


def cmd_ssh(args: argparse.Namespace) -> int:
    config = Config(data_dir=Path(args.data_dir), prefix=args.prefix)
    if config.resolve_prefix(create=False) is None:
        raise SystemExit(f"ec2d ssh: no ec2d has run instances from {config.data_dir}")
    netns, address, user, key_name = plan(config, args.instance_id, args.private)
    identity = args.identity
    if identity is None and key_name:
        for candidate in (Path(f"{key_name}.pem"), Path.home() / ".ssh" / f"{key_name}.pem"):
            if candidate.exists():
                identity = str(candidate)
                break
    argv = rootops.in_netns(netns, ["ssh", "-o", "StrictHostKeyChecking=accept-new",
                                    "-o", f"UserKnownHostsFile={Path.home() / '.ssh' / 'ec2d_known_hosts'}"])
    if identity:
        argv += ["-i", identity]
    command = [c for c in args.command if c != "--"] if args.command else []
    argv += [f"{args.user or user}@{address}", *command]
    (Path.home() / ".ssh").mkdir(mode=0o700, exist_ok=True)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 127  # not reached
