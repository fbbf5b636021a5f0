"""The bad-input sweep, split by area (see harness.py)."""
