"""The local sandbox: a Salesforce org, Metabase and Slack over HTTPS on 127.0.0.1.

```python
with Sandbox(data_dir=tmp_path, accounts=150, seed=7, as_of=date(2025, 3, 15)) as sb:
    Salesforce(instance_url=sb.salesforce_url, session_id=sb.access_token, session=...)
```

State lasts between runs: the org, the Metabase database and the Slack messages are kept under
``data_dir`` (default ``.sfsync/sandbox``); ``reset=True`` starts over. Credentials (the CA, the
connected app) survive a reset so exported environment variables stay valid.
"""

from __future__ import annotations

import importlib
import json
import secrets
import shutil
import threading
from datetime import date
from pathlib import Path
from typing import Any

import requests
import structlog
from simple_salesforce import Salesforce

from sfsync_sandbox.admin import SandboxAdmin
from sfsync_sandbox.ids import make_id
from sfsync_sandbox.salesforce import SalesforceApp
from sfsync_sandbox.salesforce.oauth import INTEGRATION_USERNAME
from sfsync_sandbox.serving import BackgroundServer
from sfsync_sandbox.tls import ensure_tls, trust_in_process, untrust_in_process

log = structlog.get_logger(__name__)

DEFAULT_DATA_DIR = Path(".sfsync/sandbox")
API_VERSION = "62.0"
STATE_DIRS = ("org", "metabase", "slack")
INTEGRATION_USER_ID = make_id("User", 1, pod="0I")


def reset_data_dir(data_dir: Path) -> None:
    """Delete the sandbox's org, Metabase and Slack state (credentials are kept)."""
    for name in (*STATE_DIRS, "sample.json"):
        path = data_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


class Sandbox:
    """Starts the sandbox services in this process; use as a context manager.

    Attributes (set once started): ``salesforce_url``, ``access_token``, ``ca_bundle``,
    ``api_version``, ``org_id``, ``integration_user_id``, ``integration_username``,
    ``integration_password``, ``security_token``, ``consumer_key``, ``jwt_private_key_file``,
    ``client_id``, ``client_secret``, ``metabase_url``, ``metabase_api_key``,
    ``metabase_username``, ``metabase_password``, ``slack_base_url``, ``slack_token``,
    ``slack_users`` (``{"id", "name", "email"}``: Slack ids are ``U…``, not Salesforce ids;
    sfsync finds them by email),
    ``admin`` (:class:`~sfsync_sandbox.admin.SandboxAdmin`), ``salesforce_app`` (the WSGI app),
    ``data_dir``, ``accounts``, ``seed``, ``as_of``.

    ``credentials_dir`` (default ``data_dir/credentials``) holds the CA, the connected app and
    the service secrets; sandboxes sharing it share one CA bundle. ``trust_in_process`` (default
    on): while running, ``REQUESTS_CA_BUNDLE`` in this process points at the system CAs plus
    the sandbox CA (see :func:`sfsync_sandbox.tls.trust_in_process`).
    """

    def __init__(
        self,
        data_dir: Path | str = DEFAULT_DATA_DIR,
        accounts: int = 150,
        seed: int = 7,
        as_of: date | None = None,
        reset: bool = False,
        credentials_dir: Path | str | None = None,
        trust_in_process: bool = True,
        salesforce_port: int = 0,
        metabase_port: int = 0,
        slack_port: int = 0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.accounts = accounts
        self.seed = seed
        self.as_of = as_of or date.today()
        self.reset = reset
        self._trust_in_process = trust_in_process
        self._trusted = False
        self.credentials_dir = (
            Path(credentials_dir) if credentials_dir else self.data_dir / "credentials"
        )
        self._ports = {
            "salesforce": salesforce_port,
            "metabase": metabase_port,
            "slack": slack_port,
        }
        self._servers: list[BackgroundServer] = []
        self.api_version = API_VERSION
        self.metabase_url: str | None = None
        self.metabase_api_key: str | None = None
        self.metabase_username: str | None = None
        self.metabase_password: str | None = None
        self.slack_base_url: str | None = None
        self.slack_token: str | None = None
        self._slack_app: Any = None
        self.slack_users: list[dict[str, str]] = []

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Sandbox:
        """Load (or create) the state, then serve every available service over HTTPS."""
        if self.reset:
            reset_data_dir(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tls = ensure_tls(self.credentials_dir)
        self.ca_bundle = str(tls.ca_bundle)
        if self._trust_in_process:
            trust_in_process(tls.ca_bundle, self.credentials_dir)
            self._trusted = True
        context = tls.server_context()
        org_dir = self.data_dir / "org"
        base_file = self.data_dir / "sample.json"
        has_snapshot = (org_dir / "org.json").exists()
        base: dict[str, Any] | None = None
        sample = None
        if not has_snapshot:
            # the org is its sample book (deterministic by these parameters) plus the journal
            if base_file.exists():
                base = json.loads(base_file.read_text(encoding="utf-8"))
            else:
                base = {"accounts": self.accounts, "seed": self.seed,
                        "as_of": self.as_of.isoformat(), "source": "sample_data"}  # fmt: skip
            sample = self._sample_data(base)
            base["source"] = "sample_data" if sample is not None else "seed"
        usage_loader = self._load_usage_in_background(sample)

        self.salesforce_app = SalesforceApp(
            self.data_dir / "org", credentials_dir=self.credentials_dir
        )
        server = BackgroundServer(self.salesforce_app, context, self._ports["salesforce"])
        self._servers.append(server)
        self.salesforce_url = server.url
        self.salesforce_app.instance_url = server.url
        if base is not None:
            self._load_org(sample, base)
            if self.salesforce_app.org.has_journal():
                self.salesforce_app.org.replay_journal()
            base_file.write_text(json.dumps(base), encoding="utf-8")
        self._ensure_integration_user()
        app = self.salesforce_app.connected_app
        self.org_id = self.salesforce_app.org.org_id
        self.integration_user_id = self.salesforce_app.integration_user()["Id"]
        self.integration_username = app.integration_username
        self.integration_password = app.integration_password
        self.security_token = app.security_token
        self.consumer_key = app.consumer_key
        self.jwt_private_key_file = app.private_key_file
        self.client_id = app.consumer_key
        self.client_secret = app.consumer_secret
        self.access_token = self._default_session()
        server.start()

        if usage_loader is not None:
            usage_loader.join()
            if self._usage_error is not None:
                raise self._usage_error
        self._start_metabase(context)
        self._start_slack(context, sample)
        self.admin = SandboxAdmin(self.salesforce_url, self.ca_bundle, self.slack_base_url)
        log.info("sandbox_started", salesforce_url=self.salesforce_url, data_dir=str(self.data_dir),
                 accounts=len(self.salesforce_app.org.tables["Account"]))  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop the servers and save the org's state."""
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if getattr(self, "salesforce_app", None) is not None:
            self.salesforce_app.org.close()
        if self._trusted:
            untrust_in_process(Path(self.ca_bundle), self.credentials_dir)
            self._trusted = False

    # -- connection details -------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The SFSYNC_* variables (SPEC §9) and REQUESTS_CA_BUNDLE to reach this sandbox.

        A ready session (instance URL + access token) plus the JWT bearer settings (and the
        integration user's throwaway password), so that a client can log in again by itself
        when the session expires."""
        env = {**self.jwt_env(), "SFSYNC_SF_ACCESS_TOKEN": self.access_token}
        if self.metabase_url:
            env["SFSYNC_METABASE_URL"] = self.metabase_url
            if self.metabase_api_key:
                env["SFSYNC_METABASE_API_KEY"] = self.metabase_api_key
        if self.slack_base_url:
            env["SFSYNC_SLACK_BASE_URL"] = self.slack_base_url
            env["SFSYNC_SLACK_TOKEN"] = self.slack_token or ""
        return env

    def jwt_env(self) -> dict[str, str]:
        """Variables for the JWT bearer flow instead of a ready session."""
        return {
            "SFSYNC_SF_INSTANCE_URL": self.salesforce_url,
            "SFSYNC_SF_USERNAME": self.integration_username,
            "SFSYNC_SF_PASSWORD": self.integration_password,
            "SFSYNC_SF_SECURITY_TOKEN": self.security_token,
            "SFSYNC_SF_CONSUMER_KEY": self.consumer_key,
            "SFSYNC_SF_PRIVATE_KEY_FILE": self.jwt_private_key_file,
            "SFSYNC_SF_DOMAIN": self.salesforce_url.removeprefix("https://"),
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
        }

    def requests_session(self) -> requests.Session:
        """A requests session that trusts the sandbox CA.

        ``trust_env`` is off because requests lets ``REQUESTS_CA_BUNDLE`` from the environment
        override ``Session.verify``; proxies are irrelevant on loopback.
        """
        session = requests.Session()
        session.verify = self.ca_bundle
        session.trust_env = False
        return session

    def simple_salesforce(self, session_id: str | None = None) -> Salesforce:
        """An unmodified simple-salesforce client connected to the sandbox org."""
        return Salesforce(
            instance_url=self.salesforce_url,
            session_id=session_id or self.access_token,
            session=self.requests_session(),
            version=self.api_version,
        )

    def new_session(self, user_id: str | None = None) -> str:
        """A fresh access token for ``user_id`` (default: the integration user)."""
        return self.salesforce_app.sessions.create(user_id or self.integration_user_id)

    # -- internals --------------------------------------------------------------------
    def _sample_data(self, base: dict[str, Any]) -> Any:
        if base.get("source") == "seed":
            return None
        try:
            sample_data = importlib.import_module("sfsync_sandbox.sample_data")
        except ModuleNotFoundError:
            return None
        as_of = date.fromisoformat(base["as_of"])
        return sample_data.generate(accounts=base["accounts"], seed=base["seed"], as_of=as_of)

    def _load_org(self, sample: Any, base: dict[str, Any]) -> None:
        org = self.salesforce_app.org
        user = INTEGRATION_USER_ID
        self._ensure_integration_user()
        if sample is None:
            from sfsync_sandbox.salesforce.seed import seed_records

            as_of = date.fromisoformat(base["as_of"])
            tables = seed_records(base["accounts"], base["seed"], as_of)
            for sobject in ("User", "Account", "Task", "Event"):
                org.load_records(sobject, tables.get(sobject, []), user)
        else:
            frames = {"User": sample.users, "Account": sample.accounts, "Task": sample.tasks,
                      "Event": sample.events}  # fmt: skip
            if getattr(sample, "contacts", None) is not None:
                frames["Contact"] = sample.contacts
            for sobject, frame in frames.items():
                org.load_frame(sobject, frame, user)

    def _ensure_integration_user(self) -> None:
        org = self.salesforce_app.org
        if org.find_external("User", "Username", INTEGRATION_USERNAME):
            return
        org.load_records(
            "User",
            [
                {
                    "Id": INTEGRATION_USER_ID,
                    "FirstName": "sfsync",
                    "LastName": "Integration",
                    "Username": INTEGRATION_USERNAME,
                    "Email": "sfsync-integration@example.invalid",
                    "IsActive": True,
                }
            ],  # fmt: skip
            INTEGRATION_USER_ID,
        )

    def _default_session(self) -> str:
        path = self.data_dir / "org" / "default_session"
        if path.exists():
            token = path.read_text(encoding="utf-8").strip()
            if self.salesforce_app.sessions.user_for(token):
                return token
        token = self.salesforce_app.sessions.create(self.integration_user_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token, encoding="utf-8")
        path.chmod(0o600)
        return token

    def _load_usage_in_background(self, sample: Any) -> threading.Thread | None:
        """Fill the Metabase warehouse while the org loads (SQLite releases the GIL)."""
        self._usage_error: BaseException | None = None
        db_path = self.data_dir / "metabase" / "usage.db"
        if sample is None or db_path.exists():
            return None
        try:
            metabase = importlib.import_module("sfsync_sandbox.metabase")
        except ModuleNotFoundError:
            return None
        db_path.parent.mkdir(parents=True, exist_ok=True)

        def load() -> None:
            try:
                metabase.load_usage(db_path, sample.usage)
            except BaseException as exc:  # re-raised by start()
                self._usage_error = exc

        thread = threading.Thread(target=load, name="sandbox-usage-load", daemon=True)
        thread.start()
        return thread

    def _start_metabase(self, context: Any) -> None:
        try:
            metabase = importlib.import_module("sfsync_sandbox.metabase")
        except ModuleNotFoundError:
            return
        directory = self.data_dir / "metabase"
        directory.mkdir(parents=True, exist_ok=True)
        creds_file = self.credentials_dir / "metabase.json"
        if creds_file.exists():
            creds = json.loads(creds_file.read_text(encoding="utf-8"))
        else:
            creds = {"api_key": "mb_" + secrets.token_urlsafe(24), "username": "admin@sandbox.sfsync.invalid",
                     "password": "Sbx-" + secrets.token_urlsafe(12)}  # fmt: skip
            creds_file.write_text(json.dumps(creds), encoding="utf-8")
        db_path = directory / "usage.db"
        cards = metabase.DEFAULT_CARDS_FILE
        app = metabase.create_app(
            db_path, cards, creds["api_key"], creds["username"], creds["password"]
        )
        server = BackgroundServer(app, context, self._ports["metabase"]).start()
        self._servers.append(server)
        self.metabase_url = server.url
        self.metabase_api_key = creds["api_key"]
        self.metabase_username = creds["username"]
        self.metabase_password = creds["password"]

    def _start_slack(self, context: Any, sample: Any) -> None:
        try:
            slack = importlib.import_module("sfsync_sandbox.slack")
        except ModuleNotFoundError:
            return
        directory = self.data_dir / "slack"
        directory.mkdir(parents=True, exist_ok=True)
        token_file = self.credentials_dir / "slack_token"
        if not token_file.exists():
            token_file.write_text("xoxb-sandbox-" + secrets.token_hex(12), encoding="utf-8")
        self.slack_token = token_file.read_text(encoding="utf-8").strip()
        users_file = directory / "users.json"
        if sample is not None or not users_file.exists():
            users = sample.slack_users() if sample is not None else self._slack_users_from_org()
            users_file.write_text(json.dumps(users, ensure_ascii=False), encoding="utf-8")
        users = json.loads(users_file.read_text(encoding="utf-8"))
        self.slack_users = users
        self._slack_app = slack.create_app(self.slack_token, directory / "messages.jsonl", users)
        server = BackgroundServer(self._slack_app, context, self._ports["slack"]).start()
        self._servers.append(server)
        self.slack_base_url = f"{server.url}/api/"

    def _slack_users_from_org(self) -> list[dict]:
        active = [
            u
            for u in self.salesforce_app.org.records("User")
            if u.get("IsActive") and u["Id"] != self.integration_user_id
        ]
        return [
            {"id": f"U{i:08d}", "name": u.get("Name"), "email": u.get("Email")}
            for i, u in enumerate(active, start=1)
        ]
