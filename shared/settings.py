"""Settings every service shares; each service adds its own under its env prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared import citizen
from shared.facts import FactsKeys
from shared.faults import Faults
from shared.kafka import KafkaSecurity
from shared.signing import PublicKeys

Role = Literal[
    "window",
    "online_hall",
    "bank",
    "bank_app",
    "hospital",
    "pharmacy",
    "citizen_app",
    "printing_agency",
    "courier",
    "operator",
]
Environment = Literal["development", "test", "production"]
#: Channels a citizen uses by themselves: each acts only for the citizen signed in on it.
SELF_SERVICE: tuple[Role, ...] = ("citizen_app", "online_hall", "bank_app")


class ApiClient(BaseModel):
    """A caller of the HTTP API: a channel's credential and the role it acts in."""

    name: str = Field(description="Who the credential belongs to, e.g. 'alipay-mini-program'.")
    role: Role = Field(description="What the caller may do.")


DEV_API_KEYS: dict[str, ApiClient] = {
    "dev-window": ApiClient(name="dev-window-clerk", role="window"),
    "dev-online-hall": ApiClient(name="dev-online-hall", role="online_hall"),
    "dev-citizen-app": ApiClient(name="dev-citizen-app", role="citizen_app"),
    "dev-bank": ApiClient(name="dev-bank-outlet", role="bank"),
    "dev-bank-app": ApiClient(name="dev-bank-app", role="bank_app"),
    "dev-hospital": ApiClient(name="dev-hospital", role="hospital"),
    "dev-pharmacy": ApiClient(name="dev-pharmacy", role="pharmacy"),
    "dev-printing-agency": ApiClient(name="dev-printing-agency", role="printing_agency"),
    "dev-courier": ApiClient(name="dev-courier", role="courier"),
    "dev-operator": ApiClient(name="dev-operator", role="operator"),
}


#: Passwords of development set-ups (compose's default, PostgreSQL's habits): refused in
#: production, as is a DATABASE_URL without a password (unless libpq gets one elsewhere).
DEV_DATABASE_PASSWORDS = frozenset({"shebao-dev", "postgres", "password", "shebao", "secret"})
MIN_DATABASE_PASSWORD = 12


def _check_database_password(database_url: str) -> None:
    password = urlsplit(database_url).password
    password = unquote(password) if password is not None else os.environ.get("PGPASSWORD")
    if password is None and os.environ.get("PGPASSFILE"):
        return
    if password is None or password in DEV_DATABASE_PASSWORDS:
        raise ValueError(
            "production needs DATABASE_URL with a password of its own (not compose's"
            " development one)"
        )
    if len(password) < MIN_DATABASE_PASSWORD:
        raise ValueError(
            f"production needs a database password of {MIN_DATABASE_PASSWORD}+ characters"
        )


class ServiceSettings(BaseSettings):
    """What every service needs: where Kafka and PostgreSQL are, who may call, how to log."""

    # An empty variable is unset (compose passes `${VAR:-}` when the operator set none).
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    #: The variables production needs set (each refused when missing or a development value).
    production_needs: ClassVar[tuple[str, ...]] = (
        "SHEBAO_ENV",
        "DATABASE_URL",
        "SHEBAO_API_KEYS",
        "SHEBAO_FACTS_KEYS",
        "SHEBAO_MESSAGE_KEYS",
        "SHEBAO_CITIZEN_TOKEN_KEYS",
        "KAFKA_SASL_PASSWORD",
    )

    environment: Environment = Field("development", validation_alias="SHEBAO_ENV")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:55432/postgres", validation_alias="DATABASE_URL"
    )
    db_pool_size: int = Field(
        10,
        ge=2,
        le=200,
        validation_alias="DB_POOL_SIZE",
        description="Most PostgreSQL connections a service process holds (each command or "
        "read holds one while it runs; mind PostgreSQL's max_connections over all processes).",
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_username: str | None = Field(None, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD")
    kafka_ssl_cafile: Path | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")
    kafka_partitions: int = Field(6, ge=1, validation_alias="SHEBAO_KAFKA_PARTITIONS")
    kafka_replication_factor: int = Field(
        1, ge=1, validation_alias="SHEBAO_KAFKA_REPLICATION_FACTOR"
    )
    api_keys: dict[str, ApiClient] = Field(
        default_factory=lambda: dict(DEV_API_KEYS), validation_alias="SHEBAO_API_KEYS"
    )
    facts_keys: dict[str, str] = Field(
        default_factory=dict,
        validation_alias="SHEBAO_FACTS_KEYS",
        description="Keys (32 bytes, base64) identity issues person facts under for card and "
        "activation, by key id, newest first. Empty: a development key.",
    )
    message_keys: dict[str, str] = Field(
        default_factory=dict,
        validation_alias="SHEBAO_MESSAGE_KEYS",
        description="Keys (32 bytes, base64) activation seals one-time SMS codes under for the "
        "notification service, by key id, newest first. Empty: a development key.",
    )
    citizen_token_keys: dict[str, str] = Field(
        default_factory=dict,
        validation_alias="SHEBAO_CITIZEN_TOKEN_KEYS",
        description="Identity's public keys of citizen tokens (raw 32-byte Ed25519, base64) "
        "by key id, as identity publishes them. Empty: the development key.",
    )
    log_level: str = Field("INFO", validation_alias="SHEBAO_LOG_LEVEL")
    trace_exporters: Annotated[tuple[Literal["otlp", "console"], ...], NoDecode] = Field(
        (),
        validation_alias="OTEL_TRACES_EXPORTER",
        description="Where spans go, comma-separated as OpenTelemetry's variable is: none (the "
        "trace context still travels), otlp (to OTEL_EXPORTER_OTLP_ENDPOINT), console (one "
        "JSON line per span on stdout).",
    )
    otlp_protocol: Literal["http/protobuf"] = Field(
        "http/protobuf",
        validation_alias="OTEL_EXPORTER_OTLP_PROTOCOL",
        description="OTLP over HTTP only (gRPC is not shipped).",
    )
    otlp_endpoint: str | None = Field(
        None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="The collector's OTLP/HTTP base URL (spans go to <it>/v1/traces); unset, "
        "the exporter's own default (http://localhost:4318).",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    db_schema: str = ""
    fault_crash_after_commit: bool = False

    @field_validator("trace_exporters", mode="before")
    @classmethod
    def _exporters(cls, value: object) -> object:
        # OTEL_TRACES_EXPORTER is a comma-separated list, case-insensitive; "none" is none.
        if isinstance(value, str):
            names = [n.strip().lower() for n in value.split(",") if n.strip()]
            return tuple(n for n in names if n != "none")
        return value

    @field_validator("otlp_protocol", mode="before")
    @classmethod
    def _protocol(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _no_default_secrets_outside_development(self) -> ServiceSettings:
        self.facts()  # refuses a malformed key, and in production a missing or development one
        self.citizen_keys()  # likewise
        self.messages()  # likewise
        self.kafka_security()  # SASL without a user or password
        if self.environment == "production":
            weak = [k for k in self.api_keys if k.startswith("dev-") or len(k) < 24]
            if weak or not self.api_keys:
                raise ValueError(
                    "production needs SHEBAO_API_KEYS with keys of 24+ characters, none 'dev-'"
                )
            if self.fault_crash_after_commit:
                raise ValueError("fault injection is for tests only")
            _check_database_password(self.database_url)
            self.kafka_security().check_production()
        return self

    def kafka_security(self) -> KafkaSecurity:
        """How this service authenticates to Kafka (a ValueError if it cannot)."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password,
            ca_file=self.kafka_ssl_cafile,
        )

    def faults(self) -> Faults:
        """The crash points armed in this process (crash tests only)."""
        return Faults(frozenset({"after_commit"}) if self.fault_crash_after_commit else frozenset())

    def citizen_keys(self) -> PublicKeys:
        """The keys that verify citizen tokens (a ValueError if the setting is not usable)."""
        return citizen.public_keys(
            self.citizen_token_keys, production=self.environment == "production"
        )

    def messages(self) -> FactsKeys:
        """The keys that seal one-time SMS codes between activation and notification."""
        return FactsKeys.from_settings(
            self.message_keys,
            production=self.environment == "production",
            setting="SHEBAO_MESSAGE_KEYS",
        )

    def facts(self) -> FactsKeys:
        """The shared keys of person facts (a ValueError if the setting is not usable)."""
        return FactsKeys.from_settings(self.facts_keys, production=self.environment == "production")
