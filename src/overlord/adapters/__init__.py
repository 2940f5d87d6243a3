"""Adapters: the code that talks to MongoDB and AWS. Each is tested against a real server."""
