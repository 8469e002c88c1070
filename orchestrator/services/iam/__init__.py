"""IAM and STS: users and their access keys, roles, inline and managed policies, instance profiles,
and the sessions ``AssumeRole`` opens. Records live in the state store (``domain/records.py``,
region ``IAM_REGION``); policy documents are evaluated by ``orchestrator.domain.iam.policy``."""
