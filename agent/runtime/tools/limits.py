"""Limits shared by every toolset."""

# How many times in one run a tool may answer "try again" (ModelRetry) before the run fails:
# enough for a model to fix a selector or a URL, few enough to stop a loop.
TOOL_RETRIES = 3
