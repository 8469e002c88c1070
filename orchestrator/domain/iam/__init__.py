"""IAM: policy parsing and evaluation, AWS-managed policies, EC2's action-to-resource table."""
