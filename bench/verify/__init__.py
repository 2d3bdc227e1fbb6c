"""`python -m bench.verify`: infra.verify against the whole stack on loopback."""
