"""The composition root: settings read, adapters built, loggers set up (docs/architecture.md)."""
