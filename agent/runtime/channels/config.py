"""Channel configuration: validated per channel, so one bad value disables only that channel.

OpenClaw users lose the whole gateway when one channel key is wrong. Here every channel is checked
on its own and ends up either enabled or disabled with a status that names the variable, what is
wrong, and a valid example; the runtime starts either way.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import SecretStr

from agent.runtime.channels.base import DM_POLICIES, DmPolicy
from agent.runtime.settings import EXAMPLES, RuntimeSettings

CHANNELS = ("telegram", "slack", "discord", "whatsapp", "email")

_TELEGRAM_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
_SLACK_TOKEN = re.compile(r"^xoxb-[A-Za-z0-9-]{10,}$")
_DISCORD_ID = re.compile(r"^\d{15,21}$")
_SENDER_ID = {
    "telegram": re.compile(r"^\d{1,20}$"),
    "slack": re.compile(r"^[UW][A-Z0-9]{2,20}$"),
    "discord": _DISCORD_ID,
    "whatsapp": re.compile(r"^[1-9]\d{6,14}$"),  # a WhatsApp id: the number, digits only
}
# Lower-cased addresses, compared as the edge compares them (agent/edge/src/email.ts).
_EMAIL_ADDRESS = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
# The label of the credential the Worker's email relay takes (agent/edge/src/email_reply.ts).
_RELAY_LABEL = b"edgeagent email relay v1"
_PHONE_NUMBER_ID = re.compile(r"^\d{5,25}$")
_ACCESS_TOKEN = re.compile(r"^[A-Za-z0-9_.|-]{20,}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One channel as the runtime will run it."""

    channel: str
    enabled: bool
    status: str
    policy: DmPolicy = "pairing"
    allowlist: frozenset[str] = field(default_factory=frozenset)
    api_base_url: str = ""
    token: SecretStr | None = None  # Discord: the optional bot token
    application_id: str | None = None
    phone_number_id: str | None = None  # WhatsApp: the number replies are sent from
    address: str | None = None  # email: the agent's own address


class _Invalid(Exception):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem} (example: {variable}={EXAMPLES[variable]})")


def load_channel_configs(settings: RuntimeSettings) -> dict[str, ChannelConfig]:
    """Every known channel, enabled or disabled with a reason."""
    return {name: _load(settings, name) for name in CHANNELS}


def relay_credential(edge_token: str) -> str:
    """The email relay's credential: hex HMAC-SHA256 keyed with the edge token over a label."""
    return hmac.new(edge_token.encode(), _RELAY_LABEL, hashlib.sha256).hexdigest()


def _load_email(settings: RuntimeSettings) -> ChannelConfig:
    # Mail reaches the runtime only from allowlisted, authenticated senders (the edge checks);
    # the same allowlist is the channel's policy here too, so there is no pairing by mail.
    if settings.email_address is None:
        return ChannelConfig("email", False, "not configured: set EMAIL_ADDRESS to enable")
    address = settings.email_address.strip().lower()
    try:
        if not _EMAIL_ADDRESS.match(address):
            raise _Invalid("EMAIL_ADDRESS", "is not an email address")
        items = [i.strip().lower() for i in re.split(r"[\s,]+", settings.email_allowlist) if i]
        bad = [item for item in items if not _EMAIL_ADDRESS.match(item)]
        if bad:
            raise _Invalid("EMAIL_ALLOWLIST", f"has entries that are not addresses: {bad[:3]!r}")
        if not items:
            raise _Invalid("EMAIL_ALLOWLIST", "is empty, so nobody could write to the agent")
        if settings.email_relay_url is None:
            raise _Invalid("EMAIL_RELAY_URL", "is not set, so no reply could be sent")
        base_url = _base_url(settings.email_relay_url, "EMAIL_RELAY_URL")
    except _Invalid as error:
        return ChannelConfig("email", False, f"disabled: {error}")
    credential = relay_credential(settings.agent_edge_token.get_secret_value())
    return ChannelConfig(
        "email",
        True,
        "ready",
        policy="allowlist",
        allowlist=frozenset(items),
        api_base_url=base_url,
        token=SecretStr(credential),
        address=address,
    )


def _load(settings: RuntimeSettings, channel: str) -> ChannelConfig:
    if channel == "email":
        return _load_email(settings)
    prefix = channel.upper()
    if channel == "whatsapp":
        token: SecretStr | None = settings.whatsapp_access_token
    else:
        token = getattr(settings, f"{channel}_bot_token")
    application_id: str | None = getattr(settings, "discord_application_id", None)
    required = {"discord": "DISCORD_APPLICATION_ID", "whatsapp": "WHATSAPP_ACCESS_TOKEN"}.get(
        channel, f"{prefix}_BOT_TOKEN"
    )
    present = application_id if channel == "discord" else token
    if present is None:
        return ChannelConfig(channel, False, f"not configured: set {required} to enable")
    try:
        if channel == "telegram":
            _check_token(token, "TELEGRAM_BOT_TOKEN", _TELEGRAM_TOKEN, "is not a BotFather token")
        elif channel == "slack":
            _check_token(token, "SLACK_BOT_TOKEN", _SLACK_TOKEN, "is not a bot token (xoxb-...)")
        elif channel == "whatsapp":
            _check_token(token, "WHATSAPP_ACCESS_TOKEN", _ACCESS_TOKEN, "is not an access token")
            if not _PHONE_NUMBER_ID.match(settings.whatsapp_phone_number_id or ""):
                raise _Invalid(
                    "WHATSAPP_PHONE_NUMBER_ID",
                    "must be the numeric phone number id from WhatsApp > API Setup",
                )
        else:
            if not _DISCORD_ID.match(application_id or ""):
                raise _Invalid("DISCORD_APPLICATION_ID", "must be the numeric application id")
            if token is not None and not token.get_secret_value().strip():
                raise _Invalid("DISCORD_BOT_TOKEN", "is blank")
        policy = _policy(getattr(settings, f"{channel}_dm_policy"), f"{prefix}_DM_POLICY")
        allowlist = _allowlist(channel, getattr(settings, f"{channel}_allowlist"))
        if policy == "allowlist" and not allowlist:
            raise _Invalid(
                f"{prefix}_ALLOWLIST",
                f"is empty while {prefix}_DM_POLICY=allowlist, so nobody could use the bot",
            )
        base_url = _base_url(getattr(settings, f"{channel}_api_base_url"), f"{prefix}_API_BASE_URL")
    except _Invalid as error:
        return ChannelConfig(channel, False, f"disabled: {error}")
    return ChannelConfig(
        channel,
        True,
        "ready",
        policy=policy,
        allowlist=allowlist,
        api_base_url=base_url,
        token=token,
        application_id=application_id if channel == "discord" else None,
        phone_number_id=settings.whatsapp_phone_number_id if channel == "whatsapp" else None,
    )


def _check_token(token: SecretStr | None, variable: str, shape: re.Pattern[str], why: str) -> None:
    # The message never quotes the value: it is a credential.
    if token is None or not shape.match(token.get_secret_value().strip()):
        raise _Invalid(variable, why)


def _policy(raw: str, variable: str) -> DmPolicy:
    value = raw.strip().lower()
    for policy in DM_POLICIES:
        if value == policy:
            return policy
    raise _Invalid(variable, f"is {raw!r}, not one of {', '.join(DM_POLICIES)}")


def _allowlist(channel: str, raw: str) -> frozenset[str]:
    variable = f"{channel.upper()}_ALLOWLIST"
    ids = [item for item in re.split(r"[\s,]+", raw.strip()) if item]
    bad = [item for item in ids if not _SENDER_ID[channel].match(item)]
    if bad:
        raise _Invalid(variable, f"has entries that are not {channel} user ids: {bad[:3]!r}")
    return frozenset(ids)


def _base_url(raw: str, variable: str) -> str:
    parts = urlsplit(raw.strip())
    loopback = parts.hostname in _LOOPBACK
    # Bot tokens travel in these requests: plain http only to a local fake or proxy.
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise _Invalid(variable, "must be an https:// URL (http:// only for a loopback host)")
    return raw.strip()
