"""Discord through interactions (slash commands), answered with a deferred response.

The edge verifies the Ed25519 signature and answers PING. A command is acknowledged at once with
a deferred response (type 5: the user sees "thinking..."); the reply follows through the
interaction's followup webhook, which accepts messages for 15 minutes and needs no bot token.
The bot token registers the `/ask` command
(`python -m agent.runtime.channels.discord register-commands`) and lets scheduled jobs post later
into the channel a command came from (`channel:<id>` conversations), after the interaction expired.

`/ask` takes an optional file (an ATTACHMENT option, type 11; the attachment object arrives in
`data.resolved.attachments`, https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure),
downloaded from its CDN `url` (no token needed) before the interaction is answered
(agent/runtime/channels/files.py). Discord waits 3 seconds for that answer, so a file that takes
longer to fetch shows "The application did not respond"; the size Discord states is checked first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.runtime.attachments import Attachment
from agent.runtime.channels.api import json_object, post_form, post_json, retryable_status
from agent.runtime.channels.base import (
    DeliveryError,
    Ignored,
    InboundMessage,
    Parsed,
    RemoteFile,
    redact,
    redact_http_logs,
    retry_after_header,
)
from agent.runtime.channels.files import check_size, download, platform_url

MAX_CHARS = 2000  # message content limit
DEFAULT_API = "https://discord.com/api/v10"
PING, APPLICATION_COMMAND = 1, 2
DEFERRED_CHANNEL_MESSAGE, CHANNEL_MESSAGE = 5, 4
EPHEMERAL = 1 << 6
STRING_OPTION, ATTACHMENT_OPTION = 3, 11
# https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-type
ASK_COMMAND = {
    "name": "ask",
    "description": "Ask the agent",
    "type": 1,
    "options": [
        {"type": STRING_OPTION, "name": "message", "description": "What to ask", "required": False},
        {
            "type": ATTACHMENT_OPTION,
            "name": "file",
            "description": "A picture, PDF, text file or voice note",
            "required": False,
        },
    ],
}
CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")


class _User(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    username: str = ""
    bot: bool = False


class _Member(BaseModel):
    model_config = ConfigDict(extra="allow")

    user: _User


class _Option(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    type: int
    value: Any = None


class _Attachment(BaseModel):
    """https://discord.com/developers/docs/resources/message#attachment-object"""

    model_config = ConfigDict(extra="allow")

    id: str
    filename: str = "attachment"
    size: int | None = None
    url: str


class _Resolved(BaseModel):
    model_config = ConfigDict(extra="allow")

    attachments: dict[str, _Attachment] = {}


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    options: list[_Option] = []
    resolved: _Resolved | None = None

    def files(self) -> tuple[RemoteFile, ...]:
        found = self.resolved.attachments if self.resolved else {}
        chosen = [found.get(str(o.value)) for o in self.options if o.type == ATTACHMENT_OPTION]
        return tuple(RemoteFile(a.url, a.filename, a.size) for a in chosen if a is not None)


class _Interaction(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: int
    token: str
    application_id: str
    channel_id: str | None = None
    guild_id: str | None = None
    member: _Member | None = None
    user: _User | None = None
    data: _Data | None = None


class _Answer(BaseModel):
    """An error answer: `message`, and `retry_after` (seconds) when rate limited
    (https://discord.com/developers/docs/topics/rate-limits)."""

    model_config = ConfigDict(extra="allow")

    message: str | None = None
    retry_after: float | None = None


class DiscordChannel:
    """Discord interactions adapter."""

    name = "discord"
    max_chars = MAX_CHARS

    def __init__(
        self,
        application_id: str,
        api_base_url: str,
        http: httpx.AsyncClient,
        bot_token: str | None = None,
    ) -> None:
        self._application_id = application_id
        self._base = api_base_url.rstrip("/")
        self._http = http
        self._bot_token = bot_token

    def parse(self, payload: dict[str, Any]) -> Parsed:
        """A slash command from a person, or why the interaction is ignored."""
        try:
            interaction = _Interaction.model_validate(payload)
        except ValidationError:
            return Ignored("malformed interaction")
        if interaction.type != APPLICATION_COMMAND or interaction.data is None:
            return Ignored(f"interaction type {interaction.type} is not a command")
        if interaction.application_id != self._application_id:
            return Ignored("interaction for another application")
        user = interaction.member.user if interaction.member else interaction.user
        if user is None or user.bot:
            return Ignored("not sent by a person")
        text = next(
            (str(o.value) for o in interaction.data.options if o.type == STRING_OPTION and o.value),
            "",
        ).strip()
        files = interaction.data.files()
        if not text and not files:
            return Ignored(f"/{interaction.data.name} carried neither text nor a file")
        return InboundMessage(
            event_id=interaction.id,
            sender=user.id,
            sender_name=user.username or user.id,
            # The interaction token is the reply address (valid 15 minutes); it is never logged.
            conversation=interaction.token,
            thread=interaction.channel_id or user.id,
            text=text,
            direct=interaction.guild_id is None,
            home=f"channel:{interaction.channel_id}" if interaction.channel_id else "",
            files=files,
        )

    def immediate_response(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """PONG for PING, a deferral for commands, a short note for anything else."""
        kind = payload.get("type")
        if kind == PING:
            return {"type": 1}
        if kind == APPLICATION_COMMAND:
            return {"type": DEFERRED_CHANNEL_MESSAGE}
        return {
            "type": CHANNEL_MESSAGE,
            "data": {"content": "Use /ask to talk to the agent.", "flags": EPHEMERAL},
        }

    async def deliver(self, conversation: str, text: str) -> None:
        """A followup on the interaction (the first replaces "thinking..."), or a channel post."""
        body = {"content": text, "allowed_mentions": {"parse": []}}  # never ping @everyone
        if conversation.startswith("channel:"):
            if not self._bot_token:
                raise DeliveryError(
                    "discord: posting outside an interaction needs DISCORD_BOT_TOKEN",
                    retryable=False,
                )
            what = "discord channel post"
            response = await post_json(
                self._http,
                what,
                f"{self._base}/channels/{conversation.removeprefix('channel:')}/messages",
                body,
                secrets=(self._bot_token,),
                headers={"Authorization": f"Bot {self._bot_token}"},
            )
        else:
            what = "discord followup"
            response = await post_json(
                self._http,
                what,
                f"{self._base}/webhooks/{self._application_id}/{conversation}",
                body,
                secrets=(conversation,),
                params={"wait": "true"},
            )
        if response.is_success:
            return
        status = response.status_code
        try:
            answer = _Answer.model_validate(json_object(response))
        except ValidationError:
            answer = _Answer()
        retry_after = answer.retry_after
        if retry_after is None:
            retry_after = retry_after_header(response.headers.get("retry-after"))
        message = answer.message or response.reason_phrase
        hint = (
            " (interaction expired: followups are accepted for 15 minutes)"
            if status in {401, 404} and what == "discord followup"
            else ""
        )
        raise DeliveryError(
            f"{what}: HTTP {status}: {redact(message, conversation)}{hint}",
            retryable=retryable_status(status),
            retry_after=retry_after,
        )

    async def fetch_file(self, file: RemoteFile, limit: int) -> bytes:
        """The attachment from Discord's CDN (its URL is signed; no token is sent)."""
        check_size(file, None, limit)
        url = platform_url(file.ref, hosts=CDN_HOSTS, api_base=self._base)
        return await download(self._http, "discord attachment", url, file, limit)

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        """The file as a message attachment: multipart with `payload_json` and `files[0]`
        (https://discord.com/developers/docs/reference#uploading-files), on the interaction's
        followup webhook or, for `channel:<id>`, as the bot in that channel."""
        info = file.info
        payload = {
            "attachments": [{"id": 0, "filename": info.name}],
            "allowed_mentions": {"parse": []},
        }
        data = {"payload_json": json.dumps(payload)}
        upload = ("files[0]", info.name, file.body, info.type)
        if conversation.startswith("channel:"):
            if not self._bot_token:
                raise DeliveryError(
                    "discord: posting outside an interaction needs DISCORD_BOT_TOKEN",
                    retryable=False,
                )
            what, secret = "discord channel file", self._bot_token
            response = await post_form(
                self._http,
                what,
                f"{self._base}/channels/{conversation.removeprefix('channel:')}/messages",
                data=data,
                file=upload,
                secrets=(secret,),
                headers={"Authorization": f"Bot {self._bot_token}"},
            )
        else:
            what, secret = "discord followup file", conversation
            response = await post_form(
                self._http,
                what,
                f"{self._base}/webhooks/{self._application_id}/{conversation}",
                data=data,
                file=upload,
                secrets=(secret,),
                params={"wait": "true"},
            )
        if response.is_success:
            return
        status = response.status_code
        message = str(json_object(response).get("message") or response.reason_phrase)
        raise DeliveryError(
            f"{what}: HTTP {status}: {redact(message, secret)}",
            retryable=retryable_status(status),
            retry_after=retry_after_header(response.headers.get("retry-after")),
        )

    async def close(self) -> None:
        """The shared client is closed by the runtime."""


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.runtime.channels.discord")
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser(
        "register-commands",
        help="register the global /ask command; reads DISCORD_BOT_TOKEN and "
        "DISCORD_APPLICATION_ID from the environment",
    )
    register.add_argument(
        "--api-base-url", default=os.environ.get("DISCORD_API_BASE_URL", DEFAULT_API)
    )
    args = parser.parse_args(argv)
    redact_http_logs()
    token = os.environ.get("DISCORD_BOT_TOKEN", "")
    application_id = os.environ.get("DISCORD_APPLICATION_ID", "")
    if not token or not application_id.isdigit():
        print(
            "register-commands: set DISCORD_BOT_TOKEN and DISCORD_APPLICATION_ID "
            "(example: DISCORD_APPLICATION_ID=1234567890123456789)",
            file=sys.stderr,
        )
        return 2

    async def run() -> int:
        url = f"{args.api_base_url.rstrip('/')}/applications/{application_id}/commands"
        async with httpx.AsyncClient(timeout=15.0) as http:
            response = await http.put(
                url, json=[ASK_COMMAND], headers={"Authorization": f"Bot {token}"}
            )
        return response.status_code

    try:
        status = asyncio.run(run())
    except httpx.HTTPError as error:
        print(f"register-commands failed: {type(error).__name__}", file=sys.stderr)
        return 1
    if status >= 300:
        print(f"register-commands failed: HTTP {status} (check DISCORD_BOT_TOKEN)", file=sys.stderr)
        return 1
    print("registered /ask")
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
