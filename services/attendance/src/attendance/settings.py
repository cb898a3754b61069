from typing import Self

from pacte_common.settings import DEVELOPMENT, ServiceSettings
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict


class AttendanceSettings(ServiceSettings):
    """Digital attendance sheets (env PACTE_ATTENDANCE_<NAME>): docs/attendance.md."""

    model_config = SettingsConfigDict(env_prefix="PACTE_ATTENDANCE_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "attendance"
    port: int = 8008
    database_url: str = "sqlite+aiosqlite:///./.data/attendance.db"

    # The sheets' time zone: half-days are planned in local time.
    timezone: str = "Europe/Paris"
    # Signs the trainees' links and the room's QR codes (HMAC). The development default is refused
    # outside PACTE_ENVIRONMENT=development, like the other keys.
    signing_key: str = Field("dev-attendance-signing-key-change-me", min_length=16)
    # Hashes IP addresses and user agents kept as evidence (never kept in clear).
    evidence_salt: str = "dev-attendance-evidence-salt"
    # A personal link is valid this long after it is issued.
    link_ttl_s: int = 7 * 24 * 3600
    # The room's QR code changes every qr_window_s; a code is accepted during its window and the
    # next one (a scan at the very end of a window), never after (the attempt is flagged).
    qr_window_s: int = 30
    # How early before a half-day's start a trainee may sign (arriving a little early).
    sign_opens_before_min: int = 15
    # After the end of the half-day the window closes (a trainee who forgot: a correction).
    sign_closes_after_min: int = 0
    # A trainee's pass (the signing page's cookie, what a QR scan needs) ends with the session:
    # the end of its last day plus this many days of grace (late corrections, a session prolonged).
    pass_grace_days: int = 7
    # The device-id cookie of the signing page (fraud flags) is kept this long on the phone.
    device_cookie_days: int = 400
    # The signing page's cookies are sent over HTTPS only; unset: True outside development.
    cookie_secure: bool | None = None
    # Where the trainees' page is served (links and QR codes point there).
    public_url: str = "http://127.0.0.1:8008"
    # The overview (GET /overview) looks for months waiting for validation among this many months
    # before the current one.
    overview_months_scanned: int = Field(3, ge=1, le=24)
    # Development only (tests): a file holding an ISO instant that stands in for server time.
    clock_file: str = ""

    @model_validator(mode="after")
    def _no_development_signing_key(self) -> Self:
        if self.environment != DEVELOPMENT and (self.signing_key.startswith("dev-") or self.evidence_salt.startswith("dev-")):
            raise ValueError("refusing to run outside development with the development signing key or evidence salt "
                             "(set PACTE_ATTENDANCE_SIGNING_KEY and PACTE_ATTENDANCE_EVIDENCE_SALT)")
        return self

    @model_validator(mode="after")
    def _secure_cookies_outside_development(self) -> Self:
        if self.cookie_secure is None:
            self.cookie_secure = self.environment != DEVELOPMENT
        return self
