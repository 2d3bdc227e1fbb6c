"""One browser tab driven over CDP: navigate, read, find elements, click, type, snapshot, capture.

The tab lives in a browser context of its own (`Target.createBrowserContext`), so closing it ends
every page, cookie and cache of the turn. Every request the tab (and any frame or worker it
starts, attached automatically) makes is paused by the Fetch domain and released or failed by the
`guard` callback. Selectors: CSS by default, `text=<words>` (an element whose visible text
contains the words; quoted, the whole text), `role=<role>[name="<accessible name>"]`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent.runtime.tools.cdp import CdpConnection, CdpError, CdpTimeout

# Returns None to let the request through, or a reason to block it.
Guard = Callable[[str], Awaitable[str | None]]

POLL_S = 0.05
LOAD_GRACE_S = 2.0  # after DOMContentLoaded, how long `goto` waits for `load` at most
_ROLE = re.compile(r'^role=([a-zA-Z]+)(?:\[name=(?:"([^"]*)"|\'([^\']*)\')\])?$')
# Find the element a CSS or text= selector names; the text search keeps the innermost match.
_FIND = """function (kind, value) {
  if (kind === "css") return document.querySelector(value);
  const exact = value.length > 1 && value.startsWith('"') && value.endsWith('"');
  const want = (exact ? value.slice(1, -1) : value).replace(/\\s+/g, " ").trim().toLowerCase();
  const matches = (el) => {
    const text = (el.innerText || "").replace(/\\s+/g, " ").trim().toLowerCase();
    return exact ? text === want : text.includes(want);
  };
  let found = null;
  const walk = (el) => {
    for (const child of el.children) if (matches(child)) { found = child; walk(child); return; }
  };
  if (document.body && matches(document.body)) { found = document.body; walk(document.body); }
  return found;
}"""
# Where to click: the element scrolled into view, its centre if it is visible, else null.
_CENTRE = """function () {
  this.scrollIntoView({block: "center", inline: "center"});
  const box = this.getBoundingClientRect();
  const style = getComputedStyle(this);
  if (box.width === 0 || box.height === 0 || style.visibility === "hidden") return null;
  return [box.x + box.width / 2, box.y + box.height / 2];
}"""
_FOCUS_FIELD = """function () {
  const tag = this.tagName;
  if (!(tag === "INPUT" || tag === "TEXTAREA" || this.isContentEditable))
    throw new Error("the element is not a text field (" + tag.toLowerCase() + ")");
  this.focus();
  if (typeof this.select === "function") this.select();
  else document.getSelection().selectAllChildren(this);
}"""
_CLEAR_FIELD = """function () {
  if ("value" in this) this.value = ""; else this.textContent = "";
  this.dispatchEvent(new Event("input", {bubbles: true}));
}"""
_DESCRIBE = """({url: location.href, title: document.title,
  text: document.body ? document.body.innerText : "",
  status: (performance.getEntriesByType("navigation")[0] || {}).responseStatus || 0})"""
_ENTER = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
_QUIET_ROLES = {"none", "generic", "InlineTextBox", "LineBreak", "RootWebArea"}


@dataclass(frozen=True, slots=True)
class PageState:
    """What the tab shows."""

    url: str
    title: str
    text: str
    status: int | None  # HTTP status of the document, when the browser knows it


class _Events:
    """Events of some sessions, recorded from creation so none is missed while a command runs."""

    def __init__(self, conn: CdpConnection, sessions: set[str], methods: set[str]) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self._sessions, self._methods = sessions, methods
        self._stop = conn.listen(self._on_event)

    def _on_event(self, method: str, params: dict[str, Any], session: str | None) -> None:
        if session in self._sessions and method in self._methods:
            self.seen.append((method, params))
            self._changed.set()

    async def wait(self, match: Callable[[str, dict[str, Any]], bool], timeout_s: float) -> None:
        """Until a recorded event matches, or CdpTimeout."""
        async with asyncio.timeout(timeout_s):
            while not any(match(m, p) for m, p in self.seen):
                self._changed.clear()
                await self._changed.wait()

    def close(self) -> None:
        self._stop()


class CdpPage:
    """A tab in its own browser context, reached through a flat session on `conn`."""

    def __init__(
        self, conn: CdpConnection, context: str, session: str, frame: str, guard: Guard
    ) -> None:
        self._conn, self._context, self.session, self.frame = conn, context, session, frame
        self._guard = guard
        self._sessions = {session}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = conn.listen(self._on_event)
        self.navigation_timeout = self.action_timeout = 5.0

    @classmethod
    async def open(cls, conn: CdpConnection, guard: Guard, timeout_s: float) -> CdpPage:
        """A blank tab with interception on; closed again if any step fails."""
        made = await conn.send("Target.createBrowserContext", {}, timeout_s=timeout_s)
        context = str(made["browserContextId"])
        try:
            target = await conn.send(
                "Target.createTarget",
                {"url": "about:blank", "browserContextId": context},
                timeout_s=timeout_s,
            )
            attached = await conn.send(
                "Target.attachToTarget",
                {"targetId": target["targetId"], "flatten": True},
                timeout_s=timeout_s,
            )
            session = str(attached["sessionId"])
            page = cls(conn, context, session, str(target["targetId"]), guard)
            await page._instrument(session, timeout_s)
            await conn.send("Page.enable", session=session, timeout_s=timeout_s)
            await conn.send(
                "Page.setLifecycleEventsEnabled",
                {"enabled": True},
                session=session,
                timeout_s=timeout_s,
            )
        except BaseException:
            with contextlib.suppress(CdpError):
                await conn.send(
                    "Target.disposeBrowserContext",
                    {"browserContextId": context},
                    timeout_s=timeout_s,
                )
            raise
        return page

    async def _instrument(self, session: str, timeout_s: float) -> None:
        """Pause every request of `session` for the guard; attach to its frames and workers."""
        await self._conn.send(
            "Fetch.enable",
            {"patterns": [{"urlPattern": "*"}]},
            session=session,
            timeout_s=timeout_s,
        )
        await self._conn.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
            session=session,
            timeout_s=timeout_s,
        )

    def _on_event(self, method: str, params: dict[str, Any], session: str | None) -> None:
        if session not in self._sessions:
            return
        if method == "Fetch.requestPaused":
            self._spawn(self._decide(session, params))
        elif method == "Target.attachedToTarget":
            child = str(params["sessionId"])
            self._sessions.add(child)
            self._spawn(self._attach_child(child))

    def _spawn(self, step: Awaitable[None]) -> None:
        async def run() -> None:
            with contextlib.suppress(CdpError):
                await step

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decide(self, session: str, params: dict[str, Any]) -> None:
        request_id = params["requestId"]
        reason = await self._guard(str(params["request"]["url"]))
        if reason is None:
            await self._conn.send(
                "Fetch.continueRequest", {"requestId": request_id}, session=session, timeout_s=10
            )
        else:
            await self._conn.send(
                "Fetch.failRequest",
                {"requestId": request_id, "errorReason": "BlockedByClient"},
                session=session,
                timeout_s=10,
            )

    async def _attach_child(self, session: str) -> None:
        try:
            await self._instrument(session, 10)
        finally:
            await self._conn.send("Runtime.runIfWaitingForDebugger", session=session, timeout_s=10)

    async def settled(self) -> None:
        """Until every request paused so far has been released or blocked."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """End the tab's browser context (its pages, cookies and cache)."""
        self._stop()
        try:
            await self._conn.send(
                "Target.disposeBrowserContext", {"browserContextId": self._context}, timeout_s=10
            )
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._conn.send(
            method, params, session=self.session, timeout_s=self.action_timeout
        )

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of `expression` in the page; a thrown error becomes CdpError."""
        result = await self._send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        _raise_thrown(result)
        return result["result"].get("value")

    def _lifecycle(self) -> _Events:
        return _Events(
            self._conn,
            {self.session},
            {"Page.lifecycleEvent", "Page.frameRequestedNavigation", "Page.frameStoppedLoading"},
        )

    async def goto(self, url: str) -> PageState:
        """Navigate; wait for the new document's DOMContentLoaded (and briefly for `load`)."""
        events = self._lifecycle()
        try:
            result = await self._conn.send(
                "Page.navigate",
                {"url": url},
                session=self.session,
                timeout_s=self.navigation_timeout,
            )
            if result.get("errorText"):
                raise CdpError(str(result["errorText"]))
            loader = result.get("loaderId")
            if loader:
                await events.wait(
                    lambda method, p: (
                        p.get("name") == "DOMContentLoaded" and p.get("loaderId") == loader
                    ),
                    self.navigation_timeout,
                )
                # A little longer for `load`, so what the page loads first (images, scripts) has
                # passed the guard, and the blocked requests can be reported with the text.
                with contextlib.suppress(TimeoutError):
                    await events.wait(
                        lambda method, p: p.get("name") == "load" and p.get("loaderId") == loader,
                        min(LOAD_GRACE_S, self.navigation_timeout),
                    )
        except TimeoutError:
            raise CdpTimeout(f"navigation timed out after {self.navigation_timeout:g} s") from None
        finally:
            events.close()
        return await self.state()

    async def state(self) -> PageState:
        """URL, title, visible text and status of the current document."""
        await self.settled()
        found = await self.evaluate(_DESCRIBE)
        status = int(found.get("status") or 0)
        return PageState(str(found["url"]), str(found["title"]), str(found["text"]), status or None)

    async def _find(self, selector: str) -> str | None:
        """The remote object id of the element `selector` names, if there is one now."""
        role = _ROLE.match(selector)
        if role is not None:
            document = await self._send(
                "Runtime.evaluate", {"expression": "document", "returnByValue": False}
            )
            query: dict[str, Any] = {"objectId": document["result"]["objectId"], "role": role[1]}
            name = role[2] if role[2] is not None else role[3]
            if name is not None:
                query["accessibleName"] = name
            nodes = (await self._send("Accessibility.queryAXTree", query))["nodes"]
            backend = next((n["backendDOMNodeId"] for n in nodes if "backendDOMNodeId" in n), None)
            if backend is None:
                return None
            resolved = await self._send("DOM.resolveNode", {"backendNodeId": backend})
            return str(resolved["object"]["objectId"])
        kind, value = ("text", selector[5:]) if selector.startswith("text=") else ("css", selector)
        result = await self._send(
            "Runtime.evaluate",
            {"expression": f"({_FIND})({json.dumps(kind)}, {json.dumps(value)})"},
        )
        _raise_thrown(result)
        found = result["result"].get("objectId")
        return str(found) if found is not None else None

    async def _call(self, element: str, function: str) -> Any:
        result = await self._send(
            "Runtime.callFunctionOn",
            {"objectId": element, "functionDeclaration": function, "returnByValue": True},
        )
        _raise_thrown(result)
        return result["result"].get("value")

    async def _actionable(self, selector: str) -> tuple[str, float, float]:
        """The element and its on-screen centre, waiting up to the action timeout for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.action_timeout
        while True:
            element = await self._find(selector)
            centre = await self._call(element, _CENTRE) if element is not None else None
            if element is not None and centre is not None:
                return element, float(centre[0]), float(centre[1])
            if loop.time() >= deadline:
                raise CdpTimeout(f"no visible element matches {selector!r}")
            await asyncio.sleep(POLL_S)

    async def _after_action(self, events: _Events) -> None:
        """Let a navigation the action started reach DOMContentLoaded (or fail); a page that
        stays put is fine."""
        # Events the action caused arrive before this answer; an error means the old document
        # went away mid-call, so a navigation is under way.
        with contextlib.suppress(CdpError):
            await self.evaluate("0")
        if any(m == "Page.frameRequestedNavigation" for m, _ in events.seen):
            with contextlib.suppress(TimeoutError):
                await events.wait(
                    lambda method, p: (
                        p.get("frameId") == self.frame
                        and (
                            method == "Page.frameStoppedLoading"
                            or p.get("name") == "DOMContentLoaded"
                        )
                    ),
                    self.navigation_timeout,
                )

    async def click(self, selector: str) -> PageState:
        """Left-click the element's centre as a mouse would, then the page as it is after."""
        _, x, y = await self._actionable(selector)
        events = self._lifecycle()
        try:
            await self._send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
            for kind in ("mousePressed", "mouseReleased"):
                await self._send(
                    "Input.dispatchMouseEvent",
                    {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
                )
            await self._after_action(events)
        finally:
            events.close()
        return await self.state()

    async def fill(self, selector: str, text: str, *, submit: bool) -> PageState:
        """Replace the field's text (typed as input events), optionally pressing Enter."""
        element, _, _ = await self._actionable(selector)
        await self._call(element, _FOCUS_FIELD)
        if text:
            await self._send("Input.insertText", {"text": text})
        else:
            await self._call(element, _CLEAR_FIELD)
        if not submit:
            return await self.state()
        events = self._lifecycle()
        try:
            await self._send("Input.dispatchKeyEvent", {"type": "keyDown", "text": "\r", **_ENTER})
            await self._send("Input.dispatchKeyEvent", {"type": "keyUp", **_ENTER})
            await self._after_action(events)
        finally:
            events.close()
        return await self.state()

    async def snapshot(self) -> str:
        """The accessibility tree as indented `- role "name"` lines (text as `- text: ...`)."""
        await self._send("Accessibility.enable")
        nodes = (await self._send("Accessibility.getFullAXTree"))["nodes"]
        by_id = {n["nodeId"]: n for n in nodes}
        lines: list[str] = []

        def walk(node: dict[str, Any], depth: int, parent_name: str) -> None:
            role = str(node.get("role", {}).get("value", ""))
            name = str(node.get("name", {}).get("value", "")).strip()
            quiet = node.get("ignored") or (role in _QUIET_ROLES and not name)
            if role == "RootWebArea":
                quiet = True
            if not quiet:
                if role == "StaticText":
                    if name and name != parent_name:
                        lines.append(f"{'  ' * depth}- text: {name}")
                    return
                level = next(
                    (
                        p["value"]["value"]
                        for p in node.get("properties", [])
                        if p.get("name") == "level"
                    ),
                    None,
                )
                label = f' "{name}"' if name else ""
                suffix = f" [level={level}]" if level is not None else ""
                lines.append(f"{'  ' * depth}- {role}{label}{suffix}")
                depth, parent_name = depth + 1, name
            for child in node.get("childIds", []):
                if child in by_id:
                    walk(by_id[child], depth, parent_name)

        if nodes:
            walk(nodes[0], 0, "")
        return "\n".join(lines)

    async def screenshot(self, *, full_page: bool) -> bytes:
        """A PNG of the viewport, or of the whole scrollable page."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self._send("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1
            }  # fmt: skip
        shot = await self._send("Page.captureScreenshot", params)
        return base64.b64decode(shot["data"])


def _raise_thrown(result: dict[str, Any]) -> None:
    details = result.get("exceptionDetails")
    if details is not None:
        exception = details.get("exception", {})
        raise CdpError(str(exception.get("description") or details.get("text", "script error")))
