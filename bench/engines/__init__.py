"""`uv run python -m bench.engines`: the native and OpenClaw engines measured side by side."""
