"""The event collector: Segment's HTTP tracking API in, whole landing files out (spool.py)."""
