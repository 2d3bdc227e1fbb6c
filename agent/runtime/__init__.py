"""The agent runtime host: the Python service that runs inside the sandbox container."""
