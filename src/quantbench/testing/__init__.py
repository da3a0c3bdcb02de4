"""Test-only helpers: never loaded by a normal session."""
