"""Rendering of the pipeline's records for people and machines (text, JSON, Markdown, HTML)."""
