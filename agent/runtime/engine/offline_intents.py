"""The plain requests the offline model understands, read into the tool call that answers them.

Deterministic and deliberately small: a handful of sentence shapes per tool (see `HELP`), matched
case-insensitively. Anything else is `None`, and the offline model answers with what it can do.
Times are computed from the `local_now` the caller passes (the agent's zone), so a test can fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# The runner prefixes a firing's prompt with this (agent/runtime/jobs/runner.py).
SCHEDULED_PREFIX = re.compile(r"^\[scheduled job [0-9a-f]{12}\]\s*")
# The prompt a reminder job stores: when it fires, the offline model says it back.
REMINDER_PREFIX = "Reminder: "

HELP = (
    "I understand a few plain requests and answer them with the agent's real tools:\n"
    "- remember that my cat is called Tom\n"
    "- what do you remember / what do you remember about my cat\n"
    "- remind me in 5 minutes to stretch / remind me at 18:30 to call Alice\n"
    "- every day at 9 fetch https://example.com / every monday at 8:30 remind me to plan the week\n"
    "- list my jobs / cancel job <id> / cancel the reminder to stretch\n"
    "- fetch https://example.com\n"
    "- open https://example.com in the browser\n"
    "- send me MEMORY.md (or a screenshot's path): the file comes to this chat"
)


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call: its registered name and arguments. `then` tells how to continue after it."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    then: str | None = None  # "cancel-matching <words>": cancel the one listed job matching them


@dataclass(frozen=True, slots=True)
class Say:
    """A direct answer, no tool needed."""

    text: str


Intent = Call | Say

_URL = r"(?P<url>(?:https?://)?[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d{1,5})?(?:/\S*)?|https?://\S+)"
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "day": 86400,
}
_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "five": 5, "ten": 10}
_DAYS = {
    "sunday": "0",
    "monday": "1",
    "tuesday": "2",
    "wednesday": "3",
    "thursday": "4",
    "friday": "5",
    "saturday": "6",
}
_AMOUNT = (
    r"(?P<n>\d{1,4}|an?|one|two|three|five|ten)\s*"
    r"(?P<unit>s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|days?)"
)
_CLOCK = r"(?P<hour>\d{1,2})(?:[:h.](?P<minute>\d{2}))?\s*(?P<ampm>am|pm)?"


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


_REMEMBER = _full(
    r"(?:please\s+)?(?:remember|note|don't forget|do not forget)(?:\s+that)?[:,]?\s+(?P<note>.+)"
)
_RECALL_ALL = _full(
    r"(?:what do you (?:remember|know)(?: about me)?|what have you remembered|recall"
    r"|show (?:me )?(?:my |your |the )?memory|what is in (?:your |my )?memory)"
)
_SEARCH = _full(
    r"(?:what do you (?:remember|know) about|do you remember|search (?:my |your |the )?memory for"
    r"|recall)\s+(?P<query>.+)"
)
_REMIND_IN = _full(
    rf"remind me\s+(?:in|after)\s+{_AMOUNT}\s+(?:to\s+|that\s+|about\s+)?(?P<what>.+)"
)
_REMIND_IN_AFTER = _full(rf"remind me\s+(?:to\s+|about\s+)?(?P<what>.+?)\s+in\s+{_AMOUNT}")
_REMIND_AT = _full(
    rf"remind me\s+(?P<tomorrow>tomorrow\s+)?at\s+{_CLOCK}"
    r"\s+(?:to\s+|that\s+|about\s+)?(?P<what>.+)"
)
_EVERY = _full(
    r"(?P<remind>remind me\s+)?every\s+(?P<period>day|morning|evening|weekday|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|hour|"
    r"(?P<minutes>\d{1,2})\s*minutes?)"
    rf"(?:\s+at\s+{_CLOCK})?\s*,?\s+(?:to\s+|that\s+|about\s+)?(?P<what>.+)"
)
_LIST = _full(
    r"(?:(?:list|show)(?: me)?(?: all)?(?: my| the)?(?: scheduled| active)? (?:jobs|reminders)"
    r"|what (?:jobs|reminders) (?:do i have|are (?:there|scheduled))|(?:my )?(?:jobs|reminders))"
)
_CANCEL_ID = _full(
    r"(?:cancel|stop|delete|remove)\s+(?:the\s+)?(?:job|reminder)?\s*(?P<id>[0-9a-f]{12})"
)
_CANCEL_WHAT = _full(
    r"(?:cancel|stop|delete|remove)\s+(?:my\s+|the\s+)?(?:job|reminder)s?"
    r"(?:\s+(?:to|about|for|that)\s+|\s+)?(?P<what>.*)"
)
_FETCH = _full(rf"(?:fetch|get|download|read|curl)\s+(?:the\s+page\s+)?{_URL}")
_OPEN = _full(
    rf"(?:open|browse|visit|go to|navigate to)\s+(?:the\s+page\s+)?{_URL}"
    r"(?:\s+in\s+(?:the|a)\s+browser)?(?:\s+and\s+.*)?"
)


_SEND = _full(
    r"(?:please\s+)?(?:send|share|give)\s+(?:me\s+)?(?:the\s+)?(?:file\s+)?"
    r"(?P<path>MEMORY\.md|memory/[A-Za-z0-9_-]+\.md|screenshots/[A-Za-z0-9_.-]+\.png)"
)


def read_request(prompt: str, local_now: datetime) -> Intent | None:
    """The tool call (or direct answer) for `prompt`, or None when it is not a known request."""
    text = SCHEDULED_PREFIX.sub("", prompt.strip())
    text = text.strip().rstrip(" .!?")
    if text.startswith(REMINDER_PREFIX):
        return Say(f"⏰ {text}")
    for reader in (_files, _memory, _schedule, _jobs, _web):
        intent = reader(text, local_now)
        if intent is not None:
            return intent
    return None


def _memory(text: str, _now: datetime) -> Intent | None:
    if _RECALL_ALL.fullmatch(text):
        return Call("recall")
    if match := _SEARCH.fullmatch(text):
        query = re.sub(r"^(?:my|your|the|a|an)\s+", "", match["query"], flags=re.IGNORECASE)
        return Call("search_memory", {"query": query[:200]})
    if match := _REMEMBER.fullmatch(text):
        return Call("remember", {"note": match["note"].strip()[:2000], "long_term": True})
    return None


def _schedule(text: str, local_now: datetime) -> Intent | None:
    if match := (_REMIND_IN.fullmatch(text) or _REMIND_IN_AFTER.fullmatch(text)):
        amount = _WORD_NUMBERS.get(match["n"].lower()) or int(match["n"])
        unit = _UNITS[match["unit"].lower().rstrip("s") or "s"]
        when = local_now + timedelta(seconds=amount * unit)
        return _reminder(match["what"], at=when)
    if match := _REMIND_AT.fullmatch(text):
        hour, minute = _clock(match)
        if hour is None:
            return Say(f"I did not understand the time {match['hour']!r}; try 'at 18:30'.")
        when = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if match["tomorrow"] or when <= local_now:
            when += timedelta(days=1)
        return _reminder(match["what"], at=when)
    if match := _EVERY.fullmatch(text):
        cron = _cron(match)
        if cron is None:
            return Say("I did not understand that schedule; try 'every day at 9 …'.")
        what = match["what"].strip()
        told = re.match(r"remind me\s+(?:to\s+|about\s+|that\s+)?", what, re.IGNORECASE)
        if told:
            what = what[told.end() :]
        prompt = REMINDER_PREFIX + what if match["remind"] or told else what
        return Call("schedule_job", {"prompt": prompt, "cron": cron})
    if re.match(r"remind me\b", text, re.IGNORECASE):
        return Say(
            "When should I remind you? Say for example 'remind me in 5 minutes to stretch' or "
            "'remind me at 18:30 to call Alice'."
        )
    return None


def _reminder(what: str, *, at: datetime) -> Call:
    return Call(
        "schedule_job",
        {"prompt": REMINDER_PREFIX + what.strip(), "at": at.replace(microsecond=0).isoformat()},
    )


def _clock(match: re.Match[str]) -> tuple[int | None, int]:
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    ampm = (match["ampm"] or "").lower()
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None, 0
    return hour, minute


def _cron(match: re.Match[str]) -> str | None:
    period = match["period"].lower()
    if match["minutes"]:
        step = int(match["minutes"])
        return f"*/{step} * * * *" if 1 <= step <= 59 else None
    if period == "hour":
        return "0 * * * *"
    default_hour = {"evening": 18}.get(period, 9)
    hour, minute = _clock(match) if match["hour"] else (default_hour, 0)
    if hour is None:
        return None
    days = "1-5" if period == "weekday" else _DAYS.get(period, "*")
    return f"{minute} {hour} * * {days}"


def _jobs(text: str, _now: datetime) -> Intent | None:
    if _LIST.fullmatch(text):
        return Call("list_jobs")
    if match := _CANCEL_ID.fullmatch(text):
        return Call("cancel_job", {"job_id": match["id"].lower()})
    if match := _CANCEL_WHAT.fullmatch(text):
        return Call("list_jobs", then=f"cancel-matching {match['what'].strip()}")
    return None


def _web(text: str, _now: datetime) -> Intent | None:
    if match := _OPEN.fullmatch(text):
        return Call("open_page", {"url": _with_scheme(match["url"])})
    if match := _FETCH.fullmatch(text):
        return Call("fetch_url", {"url": _with_scheme(match["url"])})
    return None


def _files(text: str, _now: datetime) -> Intent | None:
    if match := _SEND.fullmatch(text):
        return Call("send_file", {"path": match["path"]})
    return None


def _with_scheme(url: str) -> str:
    url = url.rstrip(".,;)")
    return url if re.match(r"https?://", url, re.IGNORECASE) else f"https://{url}"
