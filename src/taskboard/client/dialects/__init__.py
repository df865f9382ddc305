"""Adapters for the other task APIs (seeds 000, 002, 003, 004)."""
