"""Gateway settings (env prefix PACTE_AGORA_GATEWAY_). Every delay, size and threshold is here."""

from datetime import date

from pacte_common.settings import ServiceSettings
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from agora_gateway.domain.perimeter import DEFAULT_EXCLUDED_CATEGORIES

# Development-only token: the AGORA sandbox's default (PACTE_AGORA_SANDBOX_TOKEN) is the same.
DEV_AGORA_TOKEN = "pacte-dev-agora-sandbox-token"
# Development-only token: the France Travail sandbox's default (PACTE_FRANCE_TRAVAIL_SANDBOX_TOKEN).
DEV_FRANCE_TRAVAIL_TOKEN = "pacte-dev-france-travail-sandbox-token"


class AgoraGatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_AGORA_GATEWAY_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "agora-gateway"
    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///./.data/agora-gateway.db"

    # --- the AGORA endpoint (the sandbox on the dev stack) and its bearer token
    agora_url: str = "http://127.0.0.1:8005"
    agora_token: SecretStr = SecretStr(DEV_AGORA_TOKEN)
    agora_timeout_s: float = 5.0

    # --- France Travail (docs/france-travail.md): its endpoint (the sandbox on the dev stack)
    france_travail_enabled: bool = True
    france_travail_url: str = "http://127.0.0.1:8009"
    france_travail_token: SecretStr = SecretStr(DEV_FRANCE_TRAVAIL_TOKEN)
    france_travail_timeout_s: float = 5.0
    # /health/status says degraded after this many failed France Travail calls in a row.
    france_travail_degraded_after_failures: int = 3

    # --- perimeter (docs/rules.md §6.3): programme AGORA categories never sent
    excluded_categories: frozenset[str] = Field(default_factory=lambda: frozenset(DEFAULT_EXCLUDED_CATEGORIES))
    # A file without NIR waits (docs/rules.md §6.4); True creates it without and adds the NIR later.
    create_without_nir: bool = False
    # Status sent in the identity block (AGORA's "statut" of the trainee).
    trainee_status: str = "job_seeker"

    # --- dispatcher: per-file ordered sending from the database queue
    # In-process commits wake the dispatcher at once (a new flow; an answer whose file has a next
    # flow); these polls find what they cannot tell it: a requeued flow coming due, rows written
    # by another instance. Shorter while flows are in flight, long when there is nothing to send
    # (an idle suite should cost next to no CPU).
    dispatch_poll_interval_s: float = 0.2
    dispatch_idle_poll_interval_s: float = 5.0
    dispatch_batch_size: int = 100
    # Calls to a partner at once; a send frees its slot once answered, then records the answer
    # (at most as many again recording: docs/france-travail.md §1).
    dispatch_concurrency: int = 16
    # A flow claimed by a process that died is sent again (same idempotency key) after this lease;
    # a live process renews the leases of its sends every quarter of it (docs/france-travail.md §1).
    dispatch_lease_s: float = Field(10.0, gt=0)
    # Quick retries of one claim (tenacity, exponential backoff with jitter)…
    send_attempts: int = 4
    send_backoff_initial_s: float = 0.2
    send_backoff_max_s: float = 5.0
    # /health/status says degraded after this many failed AGORA calls in a row.
    agora_degraded_after_failures: int = 3
    # …then the flow goes back to the queue and waits this long, doubling, up to the max.
    requeue_delay_initial_s: float = 5.0
    requeue_delay_max_s: float = 300.0
    # At shutdown, in-flight sends get this long to finish; what is cut off is resent after its lease.
    dispatch_shutdown_grace_s: float = 5.0
    metrics_refresh_s: float = 10.0  # the flow and file gauges (counts by status)

    # --- back-fill (reprise d'antériorité)
    backfill_cutoff: date = date(2017, 1, 1)
    # Lines per bulk call (AGORA takes at most 5,000 files a call): each batch costs two
    # transactions and a call whatever its size, so larger batches cost less per line
    # (1,000: ≈ a third less gateway CPU per line than 500, docs/scaling.md).
    backfill_batch_size: int = Field(1000, gt=0)
    # A batch's acknowledged files are told in one event (bulk-batch-acknowledged), split in
    # parts of at most this many files (≈ 200 bytes each: a part stays far below Kafka's 1 MB).
    backfill_event_max_files: int = Field(1000, gt=0)
    backfill_poll_interval_s: float = 5.0  # a job started here wakes the worker at once; this finds the others
    # The lease of a running job: the instance running it renews it every quarter of this
    # (a heartbeat), so a job whose instance died or stalled is taken over by another within
    # about one lease; a runner that finds its lease taken stops at once.
    backfill_lease_s: float = Field(10.0, gt=0)
    # The export is kept in the database (every instance reads it) in sealed chunks of this
    # size: memory holds one chunk at a time on upload and on read.
    backfill_upload_chunk_bytes: int = Field(1024 * 1024, gt=0)
    # An upload whose instance stopped while writing it to the database (its lease, renewed at
    # every chunk, ran out) is failed and its chunks deleted by the next claim of any instance.
    backfill_upload_lease_s: float = Field(60.0, gt=0)
    # An export larger than this is refused with 413 while it streams in.
    backfill_max_bytes: int = 2 * 1024 * 1024 * 1024
    # The export carries NIRs in clear: its chunks are deleted once the job completes or fails,
    # unless kept (for an investigation; they stay sealed).
    backfill_keep_exports: bool = False
