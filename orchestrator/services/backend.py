"""Everything the services share: configuration, the store, credentials, regions."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator import data_dir
from orchestrator.config import Config
from orchestrator.domain.prices import PriceTable
from orchestrator.domain.regions import RegionCatalogue
from orchestrator.domain.states import InstanceState
from orchestrator.runtime.port import InstanceRoles, RuntimePort
from orchestrator.services import credentials, principals, usage
from orchestrator.services.autoscaling.target_groups import TargetGroupPort
from orchestrator.services.credentials import Credentials
from orchestrator.services.iam import keystore
from orchestrator.services.principals import ResolvedKey
from orchestrator.services.session_credentials import SessionCredentialStore
from orchestrator.store.sqlite import Store


@dataclass
class Backend:
    config: Config
    store: Store
    credentials: Credentials
    regions: RegionCatalogue = field(init=False)
    sessions: SessionCredentialStore = field(default_factory=SessionCredentialStore)
    # Instance-role credentials for the metadata service (``services/instance_roles.py``, set by
    # ``bootstrap.open``); None: instances get no ``iam/`` in their metadata.
    roles: InstanceRoles | None = None
    # Elastic Load Balancing as Auto Scaling sees it (``services/autoscaling/target_groups.py``);
    # None: no target group exists.
    target_groups: TargetGroupPort | None = None
    # Side effects go through this port: the composition root (server.py) puts a
    # ``runtime.core.Runtime`` here, on the real drivers or (API-only mode) on the fakes.
    runtime: RuntimePort = field(init=False)
    prices: PriceTable = field(init=False)  # the shipped price table or DATA_DIR/prices.json

    def __post_init__(self) -> None:
        self.regions = RegionCatalogue(self.config.regions)
        self.prices = usage.load_prices(self.config.data_dir)

    @property
    def account_id(self) -> str:
        return self.credentials.account_id

    def resolve_key(self, access_key_id: str, session_token: str | None = None) -> ResolvedKey | None:
        """The secret and the caller of an access key, or None when it is unknown or no longer valid.

        Root's key and IAM users' active keys (without a session token); with a token, an STS
        session of an assumed role (``services/iam/sessions.py``; ``ExpiredToken`` once past its
        expiration), or an instance's identity credentials while that instance is ``pending`` or
        ``running``: they are revoked when it leaves ``running`` (``instances.transition``), and
        checking the state here as well closes the window where the guest fetched new ones while it
        was shutting down.
        """
        if session_token is None:
            if access_key_id == self.credentials.access_key_id:
                return ResolvedKey(self.credentials.secret_access_key,
                                   principals.root(self.account_id, access_key_id))
            return keystore.user_key(self.store, self.credentials, access_key_id)
        creds = self.sessions.lookup(access_key_id, session_token)
        if creds is None:
            return keystore.session_key(self.store, self.credentials, access_key_id, session_token)
        owner = self.store.get(creds.owner, "instance")
        if owner is None or owner.state not in (InstanceState.PENDING, InstanceState.RUNNING):
            return None
        return ResolvedKey(creds.secret_access_key,
                           principals.instance_identity(self.account_id, access_key_id, creds.owner))

    def lookup_secret(self, access_key_id: str, session_token: str | None = None) -> str | None:
        """The secret for an access key (see :meth:`resolve_key`)."""
        found = self.resolve_key(access_key_id, session_token)
        return found.secret if found is not None else None

    @classmethod
    def open(cls, config: Config) -> Backend:
        """The data dir's store and credentials; no resource is made here (the default VPCs are
        :func:`orchestrator.services.bootstrap.open`'s, a step above)."""
        data_dir.secure(config.data_dir)  # 0700 dirs, 0600 files (also fixes an older data dir)
        creds = credentials.load_or_create(config.credentials_path)
        return cls(config=config, store=Store(config.db_path), credentials=creds)

    def close(self) -> None:
        self.store.close()
