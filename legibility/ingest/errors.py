class SourceUnavailable(Exception):
    """A source cannot be read at all: its directory is missing, its endpoint is down or
    misconfigured. The poll's ingest run fails with this message; the next poll tries again."""
