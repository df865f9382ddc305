"""HTTP routes of the native API."""
