"""Renderers: one per format (terminal via rich, JSON, Markdown)."""
