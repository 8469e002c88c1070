"""Elastic Load Balancing v2 (``elbv2``, signed as ``elasticloadbalancing``): load balancers,
target groups and their targets, listeners, rules, tags. The decisions are here; the proxies
follow through ``RuntimePort.provision_load_balancer`` / ``sync_load_balancer`` (``runtime/
load_balancers.py``), and target health comes from ``RuntimePort.target_health``."""
