"""Engines: the application state behind the HTTP layer (see `protocol.py`)."""
