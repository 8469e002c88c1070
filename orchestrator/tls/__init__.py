"""X.509 for ec2d: :mod:`.certs` builds CAs and certificates; :mod:`.service_ca` keeps the host's
own CA, which the built-in images trust and which signs the HTTPS endpoint ec2d serves inside each
VPC for ``*.amazonaws.com``."""
