"""What a user connects: their SMTP and IMAP servers, how to log in, and where sent mail is kept."""

import ipaddress
import re
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from nurture.email.smtp import SmtpConfig

Security = Literal["ssl", "starttls", "none"]
Auth = Literal["password", "oauth2"]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _host(value: str) -> str:
    value = value.strip().rstrip(".")
    if "://" in value:
        raise PydanticCustomError(
            "host", "a host name such as mail.example.com, without a scheme like imap://"
        )
    if re.fullmatch(r"[^:\s]+:\d+", value):
        raise PydanticCustomError("host", "the host name alone: the port goes in its own field")
    if any(char.isspace() for char in value):
        raise PydanticCustomError("host", "a host name cannot contain spaces")
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value.strip("[]")
    except ValueError:
        pass
    try:
        ascii_name = value.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_name = ""
    if (
        not ascii_name
        or len(ascii_name) > 253
        or not all(_LABEL.match(label) for label in ascii_name.split("."))
    ):
        raise PydanticCustomError("host", "not a valid host name: {value}", {"value": value})
    return value


def _no_control(value: str) -> str:
    # A line break would end an IMAP or SMTP command early and start another.
    if _CONTROL.search(value):
        raise PydanticCustomError("control", "must not contain line breaks or control characters")
    return value


Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535)]


class MailboxConfig(BaseModel):
    """A connected mailbox: SMTP to send as the user, IMAP to keep sent copies and read replies.

    `secret` is the password (auth "password") or the OAuth2 access token (auth "oauth2");
    stored sealed (nurture.mailbox.secrets), never logged: it prints as asterisks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    smtp_host: Host
    smtp_port: Port = 587
    smtp_security: Security = "starttls"
    imap_host: Host
    imap_port: Port = 993
    imap_security: Security = "ssl"
    username: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(_no_control)]
    auth: Auth = "password"
    secret: SecretStr = Field(min_length=1, max_length=8192)
    # The From address; empty means the username, when the username is an email address.
    from_email: str = Field(default="", max_length=320, validate_default=True)
    # Where sent copies go; None means the folder the server marks \Sent, else one named "Sent".
    sent_folder: Annotated[str, Field(max_length=255), AfterValidator(_no_control)] | None = None

    @field_validator("secret", mode="after")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        _no_control(value.get_secret_value())
        return value

    @field_validator("from_email", mode="after")
    @classmethod
    def _from_email(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            username = info.data.get("username", "")
            if not username:
                return value  # the username's own error is enough
            if "@" not in username:
                raise PydanticCustomError("from_email", "required when the username is not an email address")
            value = username
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise PydanticCustomError(
                "from_email", "not a valid email address: {why}", {"why": str(exc)}
            ) from exc

    @field_validator("sent_folder", mode="before")
    @classmethod
    def _blank_sent_folder(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def secret_value(self) -> str:
        """The password or access token, in clear."""
        return self.secret.get_secret_value()

    def smtp_config(self, *, timeout: float = 30.0) -> SmtpConfig:
        """How `SmtpProvider` (and the check) reach this mailbox's SMTP server."""
        oauth = self.auth == "oauth2"
        return SmtpConfig(
            hostname=self.smtp_host,
            port=self.smtp_port,
            username=self.username,
            password=None if oauth else self.secret_value(),
            oauth_token=self.secret_value() if oauth else None,
            use_tls=self.smtp_security == "ssl",
            # "none" means none: no opportunistic upgrade the user did not choose.
            start_tls=self.smtp_security == "starttls",
            timeout=timeout,
        )
