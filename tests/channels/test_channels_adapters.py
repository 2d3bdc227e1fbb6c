"""Each platform's wire format: what becomes a message, what is ignored, what is answered now."""

from __future__ import annotations

import httpx
import pytest
from channels_support import DISCORD_APP, discord_command, slack_event, telegram_update

from agent.runtime.channels.base import Ignored, InboundMessage
from agent.runtime.channels.discord import DiscordChannel
from agent.runtime.channels.inbox import session_for
from agent.runtime.channels.slack import SlackChannel, escape
from agent.runtime.channels.telegram import TelegramChannel
from agent.runtime.outbox import split_message
from agent.runtime.sessions import SESSION_ID

# Parsing never touches the network; the client is only there to build the adapters.
HTTP = httpx.AsyncClient(transport=httpx.MockTransport(lambda _request: httpx.Response(599)))


def telegram() -> TelegramChannel:
    return TelegramChannel("1:x", "https://api.telegram.org", HTTP)


def test_telegram_private_text_message() -> None:
    parsed = telegram().parse(telegram_update(7, "hello", user=4242))
    assert parsed == InboundMessage(
        event_id="7",
        sender="4242",
        sender_name="Ada",
        conversation="4242",
        thread="4242",
        text="hello",
        direct=True,
    )
    group = telegram().parse(telegram_update(8, "hi all", user=4242, chat=-100123))
    assert isinstance(group, InboundMessage)
    assert (group.direct, group.conversation, group.sender) == (False, "-100123", "4242")
    assert telegram().immediate_response(telegram_update(7, "x")) is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda u: u.pop("message"), "not a new message"),
        (lambda u: u["message"]["from"].update(is_bot=True), "not sent by a person"),
        (lambda u: u["message"].pop("text"), "neither text nor"),
    ],
)
def test_telegram_ignores_what_is_not_a_person_writing(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    update = telegram_update(9, "x")
    mutate(update)
    if "message" not in update:
        update["edited_message"] = telegram_update(9, "x")["message"]
    parsed = telegram().parse(update)
    assert isinstance(parsed, Ignored)
    assert parsed.reason.startswith(reason)


def test_slack_dm_mention_and_url_verification() -> None:
    slack = SlackChannel("xoxb-1", "https://slack.com/api/", HTTP)
    assert slack.immediate_response({"type": "url_verification", "challenge": "c-123"}) == {
        "challenge": "c-123"
    }
    assert isinstance(slack.parse({"type": "url_verification", "challenge": "c"}), Ignored)
    dm = slack.parse(slack_event("Ev1", "hello"))
    assert dm == InboundMessage("Ev1", "U0ADA", "U0ADA", "D0DM", "D0DM", "hello", True)
    mention = slack.parse(slack_event("Ev2", "what's up?", kind="mention"))
    assert isinstance(mention, InboundMessage)
    assert mention.text == "what's up?"  # the bot mention is stripped
    assert mention.conversation == "C0GENERAL/1700000000.000002"  # answered in the thread
    assert mention.direct is False
    assert SESSION_ID.match(session_for("slack", mention.thread))


@pytest.mark.parametrize(
    "change",
    [
        {"bot_id": "B1"},
        {"subtype": "message_changed"},
        {"type": "reaction_added"},
        {"channel_type": "channel"},
        {"text": "   "},
    ],
)
def test_slack_ignores_bots_edits_and_other_events(change: dict[str, str]) -> None:
    payload = slack_event("Ev3", "hi")
    payload["event"].update(change)
    slack = SlackChannel("xoxb-1", "https://slack.com/api/", HTTP)
    assert isinstance(slack.parse(payload), Ignored)


def test_discord_command_is_deferred_and_parsed() -> None:
    discord = DiscordChannel(DISCORD_APP, "https://discord.com/api/v10", HTTP)
    payload = discord_command("555", "summarise the news", token="tok-1")
    assert discord.immediate_response(payload) == {"type": 5}
    assert discord.immediate_response({"type": 1}) == {"type": 1}
    assert discord.immediate_response({"type": 3})["data"]["flags"] == 64  # type: ignore[index]
    parsed = discord.parse(payload)
    assert parsed == InboundMessage(
        event_id="555",
        sender="80351110224678912",
        sender_name="ada",
        conversation="tok-1",
        thread="222233334444555566",
        text="summarise the news",
        direct=False,
        home="channel:222233334444555566",
    )
    dm = dict(payload, user={"id": "1", "username": "b"})
    del dm["member"], dm["guild_id"]
    assert isinstance(parsed_dm := discord.parse(dm), InboundMessage)
    assert parsed_dm.direct is True
    assert isinstance(discord.parse(dict(payload, application_id="999")), Ignored)
    assert isinstance(discord.parse(dict(payload, type=3)), Ignored)
    assert isinstance(discord.parse({"type": 2}), Ignored)


def test_split_respects_limits_and_prefers_breaks() -> None:
    text = ("word " * 1000).strip()  # 4,999 characters
    parts = split_message(text, 2000)
    assert all(len(p) <= 2000 for p in parts)
    assert " ".join(parts) == text  # cut at spaces: nothing lost, nothing doubled
    unbroken = "x" * 4500
    assert [len(p) for p in split_message(unbroken, 2000)] == [2000, 2000, 500]
    paragraphs = "a" * 1500 + "\n\n" + "b" * 1000
    assert split_message(paragraphs, 2000) == ["a" * 1500, "b" * 1000]
    assert split_message("   ", 100) == ["(empty reply)"]


def test_slack_text_is_escaped() -> None:
    assert escape("<!channel> a & b > c") == "&lt;!channel&gt; a &amp; b &gt; c"


def test_session_ids_are_safe() -> None:
    assert session_for("telegram", "-100123") == "telegram--100123"
    long = session_for("discord", "x" * 100)
    assert SESSION_ID.match(long)
    assert long.startswith("discord-")
