"""The domain: pure rules and values, no I/O and no driver (docs/architecture.md)."""
