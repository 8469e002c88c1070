"""Everything the services share: configuration, the store, credentials, regions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.config import Config
from orchestrator.domain.regions import RegionCatalogue
from orchestrator.services.credentials import Credentials
from orchestrator.services.session_credentials import SessionCredentialStore
from orchestrator.store.sqlite import Store

if TYPE_CHECKING:
    pass


@dataclass
class Backend:
    config: Config
    store: Store
    credentials: Credentials
    regions: RegionCatalogue = field(init=False)
    runtime: Any = None  # orchestrator.services.runtime.Runtime when instances really run
    sessions: SessionCredentialStore = field(default_factory=SessionCredentialStore)

    def __post_init__(self) -> None:
        self.regions = RegionCatalogue(self.config.regions)

    @property
    def account_id(self) -> str:
        return self.credentials.account_id

    def lookup_secret(self, access_key_id: str, session_token: str | None = None) -> str | None:
        """The secret for an access key (root keys now; instance-role keys later)."""
        if session_token is None and access_key_id == self.credentials.access_key_id:
            return self.credentials.secret_access_key
        if session_token is not None:
            return self.sessions.secret_for(access_key_id, session_token)
        return None

    @classmethod
    def open(cls, config: Config) -> Backend:
        from orchestrator import data_dir
        from orchestrator.services import credentials

        data_dir.secure(config.data_dir)  # 0700 dirs, 0600 files (also fixes an older data dir)
        from orchestrator.services import vpcs

        creds = credentials.load_or_create(config.credentials_path)
        backend = cls(config=config, store=Store(config.db_path), credentials=creds)
        for region in config.regions:
            vpcs.ensure_default_vpc(backend, region)
        return backend

    def close(self) -> None:
        self.store.close()
