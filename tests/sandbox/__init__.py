"""Tests of the built-in Xero sandbox (a package so its conftest does not shadow tests/conftest.py)."""
