"""AGENT_ENGINE=openclaw: the real OpenClaw gateway, supervised, proxied and persisted.

A second application beside the native engine (agent/runtime/engine/), not an engine behind its
`Engine` protocol: OpenClaw answers turns, channels and its Control UI itself, and this package
fronts it. `app` serves it (`create_app` hands over to `create_openclaw_app`), `config` renders
openclaw.json, `supervisor` runs and restarts the OpenClaw gateway process, `proxy` forwards 8080
to it, `cdp_relay` adds Browser Rendering's header, `sync` keeps its state in the store,
`protocol` speaks its WebSocket API, `host` orders all of it, `admin` holds /api/openclaw and
`ui` the /_agent/ pages.

Shared with the native application, and only these: settings (agent/runtime/settings.py), the
edge-token check (edge_auth.py), errors and problem responses (errors.py, http.py), the state
store (store/), the AI Gateway endpoint (ai_gateway.py) and the admin UI's files (ui_files.py).
"""
