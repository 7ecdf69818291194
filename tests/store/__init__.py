"""Tests of aiotrack.store."""
