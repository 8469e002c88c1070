"""Instance-role credentials: what the metadata service serves under ``iam/`` for an instance whose
instance profile holds a role (the ``runtime.port.InstanceRoles`` the runtime reads).

Each set is an STS session of the role opened for ``ec2.amazonaws.com`` (``assume.for_service``,
session name = the instance id, owner = the instance), lasting ``Config.role_credential_seconds``
(6 h; ``EC2D_ROLE_CREDENTIAL_SECONDS`` in tests). A new set is served once less than
:func:`refresh_margin` remains (60 min for 6 h sets: botocore refreshes 15 min before expiry and
treats sets expiring within 20 min as an IMDS outage, so none is served that close); the old set stays valid until its
own expiration. Every set of an instance is revoked (``sessions.revoke``) when its profile is
disassociated or replaced and when the instance leaves ``running`` (``runtime.records.move_instance``).
The metadata service first asks :meth:`InstanceRoleCredentials.peek`, which answers from memory on
its own loop, without the store: the set last served (a revocation drops it), while no write of an
IAM record (``Store.own_bumps("iam")``) came after the store reads that verified it, and not yet due
for rotation; else it asks :meth:`InstanceRoleCredentials.credentials` off its loop, which reads
and verifies the binding in the store.
A role whose trust policy does not let EC2 assume it gets EC2's ``AssumeRoleUnauthorizedAccess``
document (no keys). Times are the store's clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import dataclass, replace

from orchestrator.domain import errors
from orchestrator.domain.lifecycle import PROFILE_ATTACHED
from orchestrator.domain.records import IAM_INSTANCE_PROFILE, IAM_ROLE, INSTANCE
from orchestrator.domain.states import InstanceState
from orchestrator.services.backend import Backend
from orchestrator.services.iam import assume, sessions
from orchestrator.store.sqlite import Record

SERVICE = "ec2.amazonaws.com"
CAN_HOLD_CREDENTIALS = (str(InstanceState.PENDING), str(InstanceState.RUNNING))
TROUBLESHOOTING = ("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html"
                   "#troubleshoot_iam-ec2_errors-info-doc")


# botocore (InstanceMetadataFetcher._evaluate_expiration) takes a set expiring within 10 min plus a
# jitter of up to 10 min for an IMDS outage: it pushes the expiry out and keeps using the set past
# its real expiration. Every set served must have more than this left, where the lifetime allows.
BOTOCORE_OUTAGE_WINDOW = 20 * 60


def refresh_margin(lifetime: int) -> int:
    """Seconds before expiry from which a new set is served: 60 min for 6 h sets (EC2 serves new
    sets well before expiry); for short lifetimes (tests) enough that no set is ever served with
    ``BOTOCORE_OUTAGE_WINDOW`` or less left, while a set still lives at least a minute before the
    next (lifetimes over 21 min); else half the lifetime."""
    floor = min(lifetime - 60, BOTOCORE_OUTAGE_WINDOW + 60)
    return min(3600, max(lifetime // 2, floor))


def timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def current_association(instance: Record) -> dict | None:
    """The instance's association in ``associating`` or ``associated`` (at most one), or None."""
    return next((a for a in instance.data.get("IamInstanceProfileAssociations") or []
                 if a["State"] in PROFILE_ATTACHED), None)


@dataclass(frozen=True)
class _Served:
    role_id: str
    issued: sessions.Issued
    last_updated: float
    verified: int  # this process's IAM writes (``Store.own_bumps``) before the reads that found it bound

    def document(self) -> dict[str, object]:
        i = self.issued
        return {"Code": "Success", "AccessKeyId": i.access_key_id, "SecretAccessKey": i.secret_access_key,
                "Token": i.token, "Expiration": timestamp(i.expiration), "LastUpdated": timestamp(self.last_updated)}


class InstanceRoleCredentials:
    """Per instance, the set IMDS serves now; minted on demand, rotated near expiry."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._served: dict[str, _Served] = {}  # only sets of a binding no revocation has ended
        self._lock = threading.RLock()
        self._revocations = itertools.count(1)
        self._revoked = 0  # the last value drawn from _revocations (each draw is atomic)

    def _fresh(self, served: _Served, now: float) -> bool:
        lifetime = int(self.backend.config.role_credential_seconds)
        return served.issued.expiration - now > refresh_margin(lifetime)

    def _keep(self, instance_id: str, served: _Served, seen: int) -> bool:
        """Keep ``served`` as the instance's set, unless a revocation (of any instance: which one is
        not known) came after ``seen``, read before the store reads that verified it. Then its pop
        may have come before this keep: the set is dropped again, and False."""
        self._served[instance_id] = served
        if self._revoked == seen:
            return True
        if self._served.get(instance_id) is served:
            self._served.pop(instance_id, None)
        return False

    def role_of(self, instance: Record) -> tuple[Record, Record] | None:
        """(instance profile, role) attached to the instance, None without a profile or role."""
        entry = current_association(instance)
        store = self.backend.store
        profile = store.get(entry["Id"], IAM_INSTANCE_PROFILE) if entry is not None else None
        if profile is None or not profile.data["RoleIds"]:
            return None
        role = store.get(profile.data["RoleIds"][0], IAM_ROLE)
        return None if role is None else (profile, role)

    def attached(self, instance: Record) -> tuple[str, str, str, dt.datetime] | None:
        found = self.role_of(instance)
        if found is None:
            return None
        profile, role = found
        entry = current_association(instance)
        assert entry is not None
        since = dt.datetime.fromisoformat(entry["Timestamp"].replace("Z", "+00:00"))
        return role.data["RoleName"], profile.data["Arn"], profile.id, since

    def _bound_role(self, instance_id: str) -> Record | None:
        """The role IMDS may hand out for the instance now: it is pending/running with a profile."""
        instance = self.backend.store.get(instance_id, INSTANCE)
        if instance is None or instance.state not in CAN_HOLD_CREDENTIALS:
            return None
        found = self.role_of(instance)
        return found[1] if found is not None else None

    def peek(self, instance_id: str) -> dict[str, object] | None:
        """What :meth:`credentials` would answer now, when memory alone tells (never blocks: no
        store, no lock): the set last served, still bound as far as every revocation and IAM write
        since its verification says, and not due for rotation. None: ask :meth:`credentials`."""
        served = self._served.get(instance_id)
        if (served is None or served.verified != self.backend.store.own_bumps("iam")
                or not self._fresh(served, self.backend.store.clock())):
            return None
        return served.document()

    def credentials(self, instance_id: str) -> dict[str, object]:
        seen = self._revoked  # before the reads: a revocation after them is caught by _keep
        stamp = self.backend.store.own_bumps("iam")  # an IAM write after them ends peek's use of the set
        now = self.backend.store.clock()
        role = self._bound_role(instance_id)
        if role is None:  # detached (or stopping) since the metadata table was built: no keys
            return {"Code": "InstanceProfileNotFound", "Message": "No instance profile is associated with "
                    "this instance.", "LastUpdated": timestamp(now)}
        lifetime = int(self.backend.config.role_credential_seconds)
        with self._lock:  # one minting per instance at a time (never taken while holding the store)
            served = self._served.get(instance_id)
            if served is not None and served.role_id == role.id and self._fresh(served, now):
                if served.verified != stamp and not self._keep(instance_id, replace(served, verified=stamp), seen):
                    return self.credentials(instance_id)  # (verified again just now: peek may serve it again)
                return served.document()
            try:
                issued = assume.for_service(self.backend, role.data["RoleName"], SERVICE, session_name=instance_id,
                                            duration=lifetime, owner=instance_id)
            except (errors.AccessDenied, errors.NoSuchEntity):
                self._served.pop(instance_id, None)
                return {"Code": "AssumeRoleUnauthorizedAccess",
                        "Message": f"EC2 cannot assume the role {role.data['RoleName']}. Please see documentation "
                                   f"at {TROUBLESHOOTING}.", "LastUpdated": timestamp(now)}
            again = self._bound_role(instance_id)
            if again is None or again.id != role.id:  # revoked while minting: this set must not live on
                self.revoke(instance_id)
                return self.credentials(instance_id)
            served = _Served(role.id, issued, now, stamp)
            if not self._keep(instance_id, served, seen):  # maybe revoked after `again`: ask the store again
                return self.credentials(instance_id)
            return served.document()

    def revoke(self, instance_id: str) -> None:
        """End the instance's role sessions (called by the runtime inside store transactions: takes
        no lock of its own, so it never waits on a minting that waits on the store). The counter
        moves first, so a set verified before this revocation and kept after its pop is dropped by
        :meth:`_keep`."""
        self._revoked = next(self._revocations)
        self._served.pop(instance_id, None)
        sessions.revoke(self.backend.store, owner=instance_id)
