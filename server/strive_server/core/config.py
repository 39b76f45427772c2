"""Server settings, from ``STRIVE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from strive_schema.key_validity import KeyValidity
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.note import ALG_COSIGNATURE_V1, NoteSigner, NoteVerifier

__all__ = ["ReceiptKeyValidity", "Settings"]


class ReceiptKeyValidity(BaseModel):
    """The lifecycle of one receipt key (every member optional, RFC 3339 with an offset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    not_before: AwareDatetime | None = None
    not_after: AwareDatetime | None = None
    retired_at: AwareDatetime | None = None
    compromised_at: AwareDatetime | None = None

    @property
    def validity(self) -> KeyValidity:
        return KeyValidity(
            not_before=self.not_before, not_after=self.not_after,
            retired_at=self.retired_at, compromised_at=self.compromised_at,
        )  # fmt: skip


class Settings(BaseSettings):
    """Everything the receiver can be configured with. Every field has a safe default."""

    model_config = SettingsConfigDict(env_prefix="STRIVE_", frozen=True, extra="ignore")

    database_url: str = "sqlite:///strive.db"
    """SQLAlchemy URL: ``sqlite:///path.db`` (embedded, WAL) or
    ``postgresql+psycopg://user@host/db``."""
    receiver_id: str = "strive-receiver.local"
    """The audience ASWs name in their submissions; published in the discovery document."""
    signing_key_file: Path = Path(".strive/receiver_signing_key.pem")
    """The receiver's Ed25519 key that signs receipts; created on first start if absent."""
    retired_receipt_keys: list[Path] = Field(default_factory=list)
    """Public keys (PEM or JWK files) that signed receipts before a rotation; published, never
    used to sign."""
    receipt_key_validity: dict[str, ReceiptKeyValidity] = Field(default_factory=dict)
    """The lifecycle of receipt keys, by key id, published with each key in the discovery
    document (spec/protocol.md, "Key lifecycle"): ``{"<kid>": {"not_after": "...",
    "retired_at": "...", "compromised_at": "..."}}``. Give every retired key its
    ``retired_at``, so that a receipt it signs later is refused by clients."""
    audit_key_file: Path = Path(".strive/audit_hmac.key")
    """The secret for the audit trail's HMACs of searched values; created on first use."""
    public_base_url: str | None = None
    """The scheme and authority clients use (e.g. behind a TLS-terminating proxy), for
    verifying signed requests; by default the request's own."""
    max_envelope_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=100, ge=1)
    max_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    """Submissions (referrals, including batch items) per ASW per minute."""
    public_stats: bool = False
    """Serve ``/v1/stats`` without a token. Off by default; see spec/api.md."""
    metrics_public: bool = False
    """Serve ``/metrics`` without a token (for a scraper on a private network)."""
    stats_suppression_threshold: int = Field(default=5, ge=1)
    over_correlation_threshold: int = Field(default=50, ge=2)
    """A selector carried by more referrals than this stops linking them (it is still shown):
    a payment processor's number or a shared hosting IP would otherwise join everything."""
    token_lifetime_days: int = Field(default=90, ge=1, le=366)
    """How long a new bearer token is valid when its creator does not say (``--expires-in-days``).
    A token that leaks stops working by itself; holders get a new one before it expires."""
    retention_review_days: dict[str, int] = Field(default_factory=dict)
    """Days from a referral's last outcome (or receipt) to its review, by outcome code (and
    ``none``), overriding the defaults of spec/api.md, "Retention and review"; JSON in
    ``STRIVE_RETENTION_REVIEW_DAYS``."""
    log_level: str = "INFO"
    approval_request_hours: int = Field(default=24, ge=1, le=168)
    """How long a dual-control request (a content-reading or admin token, an ASW key) waits
    for a second admin's approval before it expires."""
    refused_submission_limit_per_minute: int = Field(default=120, ge=1)
    """Authenticated submissions refused after the rate check (validation, conflicts) per ASW
    per minute. They do not spend the acceptance quota; once this is spent the ASW's
    submissions get 429 until the minute ends."""
    signed_read_limit_per_minute: int = Field(default=600, ge=1)
    """Signed reads (referral status, requests for information) per ASW per minute."""
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024)
    """The largest body of any request but a submission (those have ``max_envelope_bytes`` and
    ``max_batch_bytes``): casework, admin and signed reads. Larger gets 413 unread."""
    body_read_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long a client may take to send a whole request body; slower gets 408 and the
    connection is closed, so a client that declares a body and never sends it cannot hold a
    connection open."""
    console_session_hours: int = Field(default=10, ge=1, le=24)
    """How long a console session lasts at most (spec/console.md), however active."""
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """A console session unused this long ends."""
    oidc_issuer: str | None = None
    """The force's OpenID Connect provider (its issuer URL); console single sign-on is offered
    when this, ``oidc_client_id`` and ``oidc_client_secret`` are set."""
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_role_claim: str = "strive_role"
    """The ID token / userinfo claim holding the person's role (a string or a list)."""
    oidc_role_map: dict[str, str] = Field(default_factory=dict)
    """Claim values to Strive roles (e.g. ``{"CSE-Analysts": "analyst"}``); a value that is
    itself a role name maps to that role. A person with no mapped role cannot sign in."""
    oidc_name_claim: str = "email"
    """The claim that names the person in the audit trail (falls back to ``sub``)."""
    linking_in_process: bool = True
    """``strive serve`` runs the linking worker in its own process (a background thread). Set
    it false when ``strive worker`` runs linking separately (spec/linking.md, "When")."""
    linking_batch_size: int = Field(default=50, ge=1, le=1000)
    """Referrals linked per worker transaction: larger batches amortise the commit, smaller
    ones hold the write lock for less time."""
    linking_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    """How long an idle linking worker waits before looking for new referrals again."""
    linking_degraded_after_seconds: int = Field(default=60, ge=1)
    """Readiness reports ``degraded`` when the oldest referral waiting to be linked has waited
    longer than this (spec/linking.md)."""
    log_key_file: Path | None = None
    """The transparency log's Ed25519 note key (its 32-byte seed) that signs checkpoints;
    created on first use (mode 0600); by default ``log_key`` beside ``signing_key_file``.
    See spec/transparency-log.md."""
    log_origin: str | None = None
    """The log's checkpoint origin and key name; by default ``<receiver_id>/log``."""
    log_witnesses: list[str] = Field(default_factory=list)
    """Verifier keys (c2sp.org/signed-note vkeys, cosignature type 0x04) of the witnesses
    whose cosignatures the receiver accepts and serves; JSON in ``STRIVE_LOG_WITNESSES``."""

    @field_validator("log_witnesses")
    @classmethod
    def _unique_witness_names(cls, vkeys: list[str]) -> list[str]:
        """A witness is named in Strive-Witness-Id and in its lines: two keys under one name
        would let either stand in for the other, so names are unique."""
        names = [vkey.split("+", 1)[0] for vkey in vkeys]
        if len(set(names)) != len(names):
            raise ValueError("witness names in STRIVE_LOG_WITNESSES are unique")
        return vkeys

    log_sequence_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often ``strive serve`` appends pending entries to the log and signs a checkpoint."""
    log_max_merge_delay_seconds: int = Field(default=60, ge=1)
    """The log's promise: every entry is in a signed checkpoint within this long."""
    # --- Evidence files (spec/evidence-files.md) ---
    max_attachment_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    """The largest evidence file an ASW may upload (``PUT .../attachments/{id}``); larger gets
    413 ``body_too_large``, unread when declared so."""
    attachment_read_timeout_seconds: float = Field(default=900.0, gt=0)
    """How long one file upload may take (``body_read_timeout_seconds`` for everything else)."""
    sandbox_max_attachment_bytes: int = Field(default=1024 * 1024, ge=1024)
    """The largest file a sandbox (``is_test``) referral may carry."""
    sandbox_max_attachments: int = Field(default=5, ge=0)
    """How many files a sandbox referral may carry."""
    max_image_pixels: int = Field(default=50_000_000, ge=1024)
    """Images with more pixels (width x height) are refused, undecoded: a decompression bomb
    expands a small file into gigabytes of pixels."""
    evidence_store: Literal["filesystem", "s3"] = "filesystem"
    """Where files are kept: a directory (``evidence_dir``) or an S3-compatible bucket."""
    evidence_dir: Path = Path("strive-evidence")
    """The filesystem store's directory (``strive serve`` puts it beside a SQLite database)."""
    evidence_key_file: Path = Path(".strive/evidence.key")
    """The 256-bit key that encrypts files at rest; created on first use (mode 0600). Never in
    the database: a copy of the database alone reveals no file."""
    s3_bucket: str | None = None
    """The bucket of the S3 store."""
    s3_prefix: str = "evidence/"
    """The key prefix of stored objects in the bucket."""
    s3_endpoint_url: str | None = None
    """An S3-compatible endpoint (MinIO, Ceph, a test server); AWS's own by default.
    Credentials come from the usual AWS environment variables or instance role."""
    s3_region: str | None = None
    """The bucket's region."""
    pdq_match_distance: int = Field(default=31, ge=0, le=63)
    """Two PDQ hashes at most this many bits apart (of 256) are the same picture
    (spec/evidence-files.md)."""
    pdq_min_quality: int = Field(default=50, ge=0, le=100)
    """PDQ hashes of computed quality below this are kept but never link."""
    max_image_decoded_bytes: int = Field(default=100_000_000, ge=65536)
    """Images whose decoded size (width x height x bands x bytes per band, from the header)
    is larger are refused, undecoded: the memory one decoding may take (two at a time)."""

    @cached_property
    def audit_hmac_key(self) -> bytes:
        """The secret behind the HMACs that stand in for searched values in the audit trail:
        its own key (not the receipt key), so auditors can be given it to resolve a search
        without being able to forge receipts. Created on first use (mode 0600)."""
        return _create_once(self.audit_key_file, lambda: secrets.token_bytes(32))

    @property
    def evidence_path(self) -> Path:
        """The filesystem store's directory: ``evidence_dir``; when that is not set and the
        database is a SQLite file, the directory of that name beside the database."""
        sqlite = "sqlite:///"
        if "evidence_dir" in self.model_fields_set or not self.database_url.startswith(sqlite):
            return self.evidence_dir
        return Path(self.database_url.removeprefix(sqlite)).parent / self.evidence_dir

    @property
    def evidence_key_path(self) -> Path:
        """``evidence_key_file``; when that is not set and the database is a SQLite file, that
        path beside the database (as ``evidence_path``), never wherever the process started."""
        sqlite = "sqlite:///"
        if "evidence_key_file" in self.model_fields_set or not self.database_url.startswith(sqlite):
            return self.evidence_key_file
        return Path(self.database_url.removeprefix(sqlite)).parent / self.evidence_key_file

    @cached_property
    def evidence_key(self) -> bytes:
        """The AES-256 key that encrypts evidence files at rest (created on first use, 0600).
        A new key is never created beside a store that already holds objects: they were
        encrypted under another key, which was lost or is misconfigured."""
        path = self.evidence_key_path
        if not path.exists():
            from strive_server.services.evidence_store import store_for  # noqa: PLC0415

            if store_for(self).holds_objects():
                raise RuntimeError(
                    f"no evidence key at {path}, but the evidence store holds objects "
                    "encrypted under one: restore the key (or set STRIVE_EVIDENCE_KEY_FILE)"
                )
        key = _create_once(path, lambda: secrets.token_bytes(32))
        if len(key) != 32:
            raise ValueError(f"{path} must hold exactly 32 bytes")
        return key

    @cached_property
    def signing_key(self) -> SigningKey:
        """Load the receipt-signing key, creating it (mode 0600) on first use."""
        _create_once(self.signing_key_file, lambda: SigningKey.generate().to_pem())
        return SigningKey.from_file(self.signing_key_file)

    @cached_property
    def log_signer(self) -> NoteSigner:
        """The log's checkpoint key, named by the origin; created (mode 0600) on first use."""
        path = self.log_key_file or self.signing_key_file.with_name("log_key")
        seed = _create_once(path, lambda: secrets.token_bytes(32))
        return NoteSigner(self.log_origin or f"{self.receiver_id}/log", seed)

    @cached_property
    def log_witness_keys(self) -> list[NoteVerifier]:
        """The configured witnesses' cosigner keys."""
        keys = [NoteVerifier.from_vkey(vkey) for vkey in self.log_witnesses]
        if any(key.alg != ALG_COSIGNATURE_V1 for key in keys):
            raise ValueError("witness keys are cosignature (type 0x04) verifier keys")
        return keys

    @cached_property
    def published_keys(self) -> list[PublicKey]:
        """The receipt keys in the discovery document: the current one, then retired ones,
        so receipts issued before a rotation stay verifiable."""
        retired = [PublicKey.load(path.read_bytes()) for path in self.retired_receipt_keys]
        return [self.signing_key.public_key, *retired]

    def receipt_validity(self, key_id: str) -> KeyValidity:
        """A receipt key's lifecycle as configured (none: valid at any time)."""
        configured = self.receipt_key_validity.get(key_id)
        return KeyValidity() if configured is None else configured.validity

    @cached_property
    def published_jwks(self) -> list[dict[str, str]]:
        """:attr:`published_keys` as JWKs, each with its lifecycle members."""
        return [
            {**key.to_jwk(), **self.receipt_validity(key.key_id).to_members()}
            for key in self.published_keys
        ]


def _create_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """Read ``path``, creating it with ``make()`` (mode 0600) if absent. A complete file is
    written under a private name and linked into place, so a concurrent worker either wins
    the link or reads the winner's complete file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as stream:
            stream.write(make())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()
