"""The chat UI in a real headless Chromium against the runtime app, answered by a scripted model
(chat_support.ScriptedChat): Markdown rendered and sanitised, copy buttons, tool calls shown as
they run, Stop and Retry, errors, the session in the URL, the phone layout, and long replies
that stay in view. Screenshots at desktop and phone widths go to $UI_SCREENSHOTS (default: tmp).
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_support import CODE, ScriptedChat, serve_chat
from playwright.sync_api import BrowserContext, Page, expect
from suite_support import DESKTOP, chromium, page_problems, screenshots

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def script() -> ScriptedChat:
    return ScriptedChat()


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chat") / "state"


@pytest.fixture(scope="module")
def url(state_dir: Path, script: ScriptedChat) -> Iterator[str]:
    with serve_chat(state_dir, script) as base:
        yield base


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory, url: str) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as browser:
        browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        yield browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def page(context: BrowserContext, url: str) -> Iterator[Page]:
    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    problems = page_problems(page)
    page.goto(url + "/")
    expect(page.locator("#conn")).to_have_text("connected")
    yield page
    # No script error and no Content-Security-Policy violation (a refused inline script or image
    # would be one); the only failed requests expected are the 404s and 415s a test provokes.
    assert [p for p in problems if not re.search(r"status of (404|415)\b", p)] == []
    page.close()


def snap(page: Page, shots: Path, name: str) -> None:
    """Screenshots of the page as it is, at desktop and at phone width."""
    page.screenshot(path=str(shots / f"{name}-desktop.png"))
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(shots / f"{name}-phone.png"))
    page.set_viewport_size(DESKTOP)


def send(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def saved(page: Page) -> Any:
    """The newest reply, once it is stored."""
    agent = page.locator(".msg.agent").last
    expect(agent.locator(".meta")).to_contain_text("saved", timeout=30_000)
    return agent


def turns(url: str, session: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/sessions/{session}") as response:  # noqa: S310
        return list(json.loads(response.read())["turns"])


def session_of(page: Page) -> str:
    match = re.search(r"#chat/(.+)$", page.url)
    assert match is not None, page.url
    return match.group(1)


def test_markdown_is_rendered_sanitised_and_code_can_be_copied(page: Page, shots: Path) -> None:
    send(page, "show me markdown")
    reply = saved(page).locator(".text")
    expect(reply.locator("h2")).to_have_text("Packing list")
    expect(reply.locator("ol > li")).to_have_count(2)
    expect(reply.locator("ol strong")).to_have_text("spare")
    link = reply.locator("a", has_text="the hut page")
    expect(link).to_have_attribute("href", "https://example.com/hut?a=1&b=2")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(reply.locator("table th")).to_have_text(["Item", "Grams"])
    expect(reply.locator("table td")).to_have_text(["Tent", "1200", "Stove", "300"])
    code = reply.locator(".codeblock pre code")
    expect(code).to_have_class("language-python")
    expect(code).to_have_text(CODE)
    expect(reply.locator(".codeblock .lang")).to_have_text("python")
    # Hostile bits: raw HTML is shown as text, the javascript: link and the image are inert.
    expect(reply).to_contain_text("<script>window.pwned = 1</script>")
    assert reply.locator("script, img, [onerror]").count() == 0
    expect(reply.get_by_text("click me")).to_be_visible()
    assert reply.locator("a[href^='javascript']").count() == 0
    expect(reply.locator("a", has_text="tracker")).to_have_attribute(
        "href", "https://tracker.example/p.png"
    )
    assert page.evaluate("window.pwned") is None

    reply.locator(".codeblock .copy").click()
    expect(reply.locator(".codeblock .copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == CODE
    snap(page, shots, "chat-markdown")


def test_tool_calls_show_as_they_happen(
    page: Page, url: str, script: ScriptedChat, shots: Path
) -> None:
    script.gate.clear()
    send(page, "remember that I prefer window seats")
    agent = page.locator(".msg.agent").last
    tool = agent.locator(".tool")
    # The call and its result are on screen while the model is still working on its answer.
    expect(tool).to_have_attribute("data-state", "ok", timeout=30_000)
    expect(tool.locator(".tool-name")).to_have_text("remember")
    expect(tool.locator(".tool-args")).to_contain_text("prefers window seats")
    expect(tool.locator(".tool-state")).to_have_text("done")
    assert tool.evaluate("node => node.open") is False  # collapsed
    expect(agent.locator(".meta")).to_have_count(0)
    tool.locator("summary").click()
    expect(tool.locator(".tool-in")).to_contain_text('"long_term": true')
    result = tool.locator(".tool-out").inner_text()
    assert "MEMORY.md" in result, result
    snap(page, shots, "chat-tool-running")

    script.gate.set()
    expect(saved(page).locator(".text")).to_contain_text("Noted. The tool said:")
    stored = turns(url, session_of(page))[-1]["tools"]
    assert [(t["name"], t["ok"]) for t in stored] == [("remember", True)]
    # History shows the same call after a reload.
    page.reload()
    again = page.locator(".msg.agent").last.locator(".tool")
    expect(again.locator(".tool-name")).to_have_text("remember")
    expect(again).to_have_attribute("data-state", "ok")
    expect(again.locator(".tool-out")).to_have_text(result)


def test_stop_keeps_nothing_and_retry_sends_again(page: Page, url: str, shots: Path) -> None:
    send(page, "slow answer please")
    agent = page.locator(".msg.agent").last
    expect(agent.locator("strong")).to_have_text("your trip", timeout=30_000)
    expect(page.locator("#chat-send")).to_be_hidden()
    page.click("#chat-stop")
    expect(agent.locator(".meta")).to_contain_text("Stopped: this reply was not saved.")
    expect(agent.locator(".text")).to_contain_text("Thinking about your trip")
    expect(page.locator("#chat-send")).to_be_visible()
    snap(page, shots, "chat-stopped")
    session = session_of(page)
    with pytest.raises(urllib.error.HTTPError):  # nothing stored: the new session has no turn
        turns(url, session)

    agent.get_by_role("button", name="Retry").click()
    expect(saved(page).locator(".text")).to_have_text("You said slow answer please.")
    expect(page.locator(".msg.user")).to_have_count(1)
    assert [t["prompt"] for t in turns(url, session)] == ["slow answer please"]


def test_an_error_says_what_happened_and_retry_recovers(page: Page, shots: Path) -> None:
    send(page, "this will fail once")
    agent = page.locator(".msg.agent").last
    error = agent.locator(".error")
    expect(error).to_contain_text("(HTTP 502)", timeout=30_000)
    expect(error).to_contain_text("the agent engine failed; the turn was not saved")
    expect(agent.locator(".meta")).to_contain_text("Not saved.")
    expect(agent.locator(".text")).to_have_text("")  # no leftover "…" placeholder
    snap(page, shots, "chat-error")
    agent.get_by_role("button", name="Retry").click()
    expect(saved(page).locator(".text")).to_have_text("You said this will fail once.")
    expect(page.locator(".msg.failed")).to_have_count(0)


def test_a_lost_connection_is_said_and_the_message_resent(
    context: BrowserContext, url: str
) -> None:
    closed: list[int] = []

    def relay(route: Any) -> None:
        server = route.connect_to_server()
        route.on_message(server.send)

        def to_page(message: str | bytes) -> None:
            if json.loads(message)["type"] == "reply" and not closed:
                closed.append(1)
                route.close(code=1012, reason="service restart")
                return
            route.send(message)

        server.on_message(to_page)

    page = context.new_page()
    page.route_web_socket(re.compile(r"/ws$"), relay)
    page.goto(url + "/")
    expect(page.locator("#conn")).to_have_text("connected")
    # The page reconnects within half a second: keep every label the status showed.
    page.evaluate(
        """() => {
            window.connLog = [];
            const conn = document.getElementById("conn");
            new MutationObserver(() => window.connLog.push(conn.textContent))
                .observe(conn, { childList: true, characterData: true, subtree: true });
        }"""
    )
    send(page, "hello again")
    expect(saved(page).locator(".text")).to_have_text("You said hello again.")
    log = page.evaluate("window.connLog")
    assert "connection lost (code 1012: service restart); reconnecting…" in log, log
    expect(page.locator("#conn")).to_have_text("connected")
    page.close()


def test_the_session_is_in_the_url_for_reload_and_back(page: Page, url: str) -> None:
    send(page, "first session")
    saved(page)
    first = session_of(page)
    page.reload()
    expect(page.locator(".msg.user")).to_have_text(["first session"])
    expect(page.locator(f'#session-list [data-session="{first}"]')).to_have_class(
        re.compile(r"\bactive\b")
    )

    page.click("#new-chat")
    expect(page.locator(".msg")).to_have_count(0)
    send(page, "second session")
    saved(page)
    second = session_of(page)
    assert second != first
    page.go_back()
    expect(page.locator(".msg.user")).to_have_text(["first session"])
    assert session_of(page) == first
    page.go_forward()
    expect(page.locator(".msg.user")).to_have_text(["second session"])

    page.goto(url + "/#chat/no-such-session")
    expect(page.locator("#chat-empty")).to_contain_text('No session "no-such-session" here')


def test_the_phone_layout_fits_390_px(page: Page, shots: Path) -> None:
    page.set_viewport_size(PHONE)
    send(page, "show me markdown")
    saved(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width} px"
    expect(page.locator("#chat-input")).to_be_in_viewport()
    expect(page.locator("#chat-send")).to_be_in_viewport()
    expect(page.locator(".sessions")).to_be_hidden()
    table = page.locator(".msg.agent .table-scroll").last
    box = table.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= PHONE["width"]
    page.screenshot(path=str(shots / "chat-phone.png"))
    page.click("#toggle-sessions")
    expect(page.locator(".sessions")).to_be_visible()
    expect(page.locator("#messages")).to_be_hidden()
    page.screenshot(path=str(shots / "sessions-phone.png"))
    page.locator("#session-list [data-session]").first.click()
    expect(page.locator("#messages")).to_be_visible()


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_long_reply_streams_correctly_and_stays_above_the_input(
    page: Page, shots: Path, script: ScriptedChat, size: dict[str, int]
) -> None:
    page.set_viewport_size(size)
    send(page, "a long reply")
    agent = saved(page)
    # The streamed, block-by-block rendering ends as exactly the whole reply rendered at once.
    shown = agent.locator(".text").evaluate("node => node.innerText")
    whole = page.evaluate(
        """async (text) => {
            const { renderMarkdown } = await import("/ui/markdown.js");
            const box = document.createElement("div");
            box.className = "text md";
            box.append(renderMarkdown(text));
            document.querySelector(".messages").append(box);
            const rendered = box.innerText;
            box.remove();
            return rendered;
        }""",
        script.long_reply,
    )
    assert shown == whole
    expect(agent.locator(".codeblock")).to_have_count(script.long_reply.count("```js"))
    # The end of the newest reply is in view, above the input, not under it.
    composer = page.locator("#chat-form").bounding_box()
    meta = agent.locator(".meta").bounding_box()
    assert composer is not None
    assert meta is not None
    assert meta["y"] + meta["height"] <= composer["y"]
    expect(agent.locator(".meta")).to_be_in_viewport()
    page.screenshot(path=str(shots / f"chat-long-{'phone' if size == PHONE else 'desktop'}.png"))

    # Scrolled up while a reply streams, the reader stays where they are, offered a way back.
    # The reply pauses halfway until the reader has scrolled up: however fast the machine, the
    # rest arrives while they are up there.
    script.midway.clear()
    send(page, "a long reply")
    page.locator(".msg.agent").last.locator(".md-part").first.wait_for()
    page.locator("#messages").evaluate("box => { box.scrollTop = 0; }")
    script.midway.set()
    saved(page)
    assert page.locator("#messages").evaluate("box => box.scrollTop") < 50
    expect(page.locator("#to-newest")).to_be_visible()
    page.click("#to-newest")
    expect(page.locator(".msg.agent").last.locator(".meta")).to_be_in_viewport()
    expect(page.locator("#to-newest")).to_be_hidden()


# A 1x1 PNG (signature, IHDR, IDAT, IEND).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201a5d6c3c10000000049454e44ae426082"
)


def test_an_image_from_the_picker_is_uploaded_shown_inline_and_seen_by_the_model(
    page: Page, url: str, shots: Path, state_dir: Path
) -> None:
    page.set_input_files(
        "#chat-file", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(page.locator("#chat-pending .chip")).to_contain_text("dot.png")
    send(page, "what is in this picture?")
    agent = saved(page)
    expect(agent.locator(".text")).to_have_text(f"I see a image/png of {len(PNG)} bytes.")
    image = page.locator(".msg.user").last.locator("img.attachment-image")
    expect(image).to_have_attribute("alt", "dot.png")
    # Drawn, not broken: the browser fetched and decoded it under the page's CSP.
    page.wait_for_function(
        "() => { const i = [...document.querySelectorAll('img.attachment-image')].pop();"
        " return i && i.complete && i.naturalWidth === 1; }"
    )
    expect(page.locator("#chat-pending")).to_be_hidden()
    [turn] = turns(url, session_of(page))
    assert [(a["name"], a["type"], a["size"]) for a in turn["attachments"]] == [
        ("dot.png", "image/png", len(PNG))
    ]
    page.reload()  # a stored turn shows its image again
    expect(page.locator(".msg.user img.attachment-image")).to_have_count(1)
    snap(page, shots, "attachment-image")
    # A refused type is said before anything is sent, and nothing waits for the next message.
    page.set_input_files(
        "#chat-file",
        files=[{"name": "tool.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00rest"}],
    )
    expect(page.locator("#toast")).to_contain_text("tool.png: attachment type not allowed")
    expect(page.locator("#chat-pending")).to_be_hidden()
    # Expired (the retention sweep deleted the bytes): the turn still shows the file, as expired.
    digest = hashlib.sha256(PNG).hexdigest()
    for stored in (state_dir / "attachments").rglob(digest):
        stored.unlink()
    page.reload()
    expect(page.locator(".msg.user .attachment-expired")).to_have_text("📎 dot.png (expired)")
    expect(page.locator(".msg.user img.attachment-image")).to_have_count(0)


# A voice note's first bytes: an Ogg page with an Opus head (the sniffer reads the content).
OGG = b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"


def files_handle(page: Page, name: str, kind: str, body: bytes) -> Any:
    """A DataTransfer holding one file, as a drag or a paste carries it."""
    return page.evaluate_handle(
        "([name, type, bytes]) => { const t = new DataTransfer();"
        " t.items.add(new File([new Uint8Array(bytes)], name, { type })); return t; }",
        [name, kind, list(body)],
    )


def test_a_dropped_file_is_uploaded_and_a_voice_note_shows_why_it_has_no_transcript(
    page: Page, url: str
) -> None:
    transfer = files_handle(page, "notes.txt", "text/plain", b"packing list\n")
    page.dispatch_event("#view-chat", "dragover", {"dataTransfer": transfer})
    expect(page.locator("#view-chat")).to_have_class(re.compile(r"\bdropping\b"))
    page.dispatch_event("#view-chat", "drop", {"dataTransfer": transfer})
    expect(page.locator("#view-chat")).not_to_have_class(re.compile(r"\bdropping\b"))
    expect(page.locator("#chat-pending .chip")).to_contain_text("notes.txt")
    voice = files_handle(page, "voice.ogg", "audio/ogg", OGG)
    page.dispatch_event("#view-chat", "drop", {"dataTransfer": voice})
    expect(page.locator("#chat-pending .chip")).to_have_count(2)
    send(page, "read these")
    saved(page)
    user = page.locator(".msg.user").last
    expect(user.locator("a.attachment-file")).to_have_text("📎 notes.txt")
    expect(user.locator(".attachment-audio audio")).to_have_count(1)
    # No AI Gateway in this runtime: the reply's stored turn says why there is no transcript.
    expect(user.locator(".transcript")).to_contain_text("Not transcribed: speech-to-text needs")
    [turn] = turns(url, session_of(page))
    assert [(a["name"], a["type"]) for a in turn["attachments"]] == [
        ("notes.txt", "text/plain"),
        ("voice.ogg", "audio/ogg"),
    ]
    page.reload()  # the stored turn shows the note again
    expect(page.locator(".msg.user .transcript")).to_contain_text("AI_GATEWAY_BASE_URL")


def test_a_pasted_screenshot_is_uploaded_with_the_message(page: Page, url: str) -> None:
    png = PNG + b"pasted"  # bytes after IEND: another attachment, still a PNG
    pasted = files_handle(page, "image.png", "image/png", png)
    page.locator("#chat-input").evaluate(
        "(input, data) => input.dispatchEvent("
        "new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))",
        pasted,
    )
    expect(page.locator("#chat-pending .chip")).to_contain_text("image.png")
    expect(page.locator("#chat-input")).to_have_value("")  # the file, not its name, was pasted
    send(page, "what is in this picture?")
    expect(saved(page).locator(".text")).to_have_text(f"I see a image/png of {len(png)} bytes.")
    [turn] = turns(url, session_of(page))
    assert [(a["name"], a["type"], a["size"]) for a in turn["attachments"]] == [
        ("image.png", "image/png", len(png))
    ]


def test_a_file_the_agent_sends_back_is_shown_with_its_reply(
    page: Page, url: str, state_dir: Path, shots: Path
) -> None:
    shot = state_dir / "workspace" / "screenshots" / "shot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(PNG)  # what the browser tool's screenshot stored
    send(page, "send me the screenshot")
    agent = saved(page)
    expect(agent.locator(".text")).to_contain_text("Here it is (sent shot.png (image/png")
    image = agent.locator("img.attachment-image")
    expect(image).to_have_attribute("alt", "shot.png")
    page.wait_for_function(
        "() => { const i = document.querySelector('.msg.agent img.attachment-image');"
        " return i && i.complete && i.naturalWidth === 1; }"
    )
    [turn] = turns(url, session_of(page))
    assert [(f["name"], f["type"]) for f in turn["files"]] == [("shot.png", "image/png")]
    page.reload()  # from the stored turn
    expect(page.locator(".msg.agent img.attachment-image")).to_have_count(1)
    snap(page, shots, "agent-sent-file")
