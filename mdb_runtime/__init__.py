"""Compatibility layer for the older MDB_RUNTIME API."""
