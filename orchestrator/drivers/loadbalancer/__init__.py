"""Load balancers' data plane: one proxy process per ELBv2 load balancer, inside its VPC's namespace."""
