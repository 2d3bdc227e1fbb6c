"""AGENT_ENGINE=openclaw: the real OpenClaw gateway, supervised, proxied and persisted.

`config` renders openclaw.json, `supervisor` runs and restarts the gateway, `proxy` forwards 8080
to it, `cdp_relay` adds Browser Rendering's header, `sync` keeps its state in the store,
`protocol` speaks its WebSocket API, `host` orders all of it and `app` serves it.
"""
