"""The generated JSON Schema of the spec (package data)."""
