"""Tiny Lambda handlers the API gateway tests route to."""
