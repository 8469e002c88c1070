"""Instance metadata service: model, tree, tokens, HTTP server and namespace sockets."""

from .listen import connect_in_netns, open_listener_in_netns, run_in_netns
from .model import (
    IamRole,
    InstanceMetadata,
    MetadataOptions,
    NetworkInterface,
    default_hostname,
    public_hostname_for,
)
from .server import IMDSServer, StaticResolver, current_listener_key, make_app, peer_ip
from .tokens import TokenStore
from .tree import build_tree, resolve

__all__ = [
    "IMDSServer",
    "IamRole",
    "InstanceMetadata",
    "MetadataOptions",
    "NetworkInterface",
    "StaticResolver",
    "TokenStore",
    "build_tree",
    "connect_in_netns",
    "current_listener_key",
    "default_hostname",
    "make_app",
    "open_listener_in_netns",
    "peer_ip",
    "public_hostname_for",
    "resolve",
    "run_in_netns",
]
