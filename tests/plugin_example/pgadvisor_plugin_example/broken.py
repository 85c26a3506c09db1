"""Fails to import on purpose: a plugin whose import raises is reported, never fatal."""

raise ImportError("this plugin module is broken on purpose")
