"""Jinja2 templates of the emitted objects (package data)."""
