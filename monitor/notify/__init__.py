"""Sending alerts: the apprise adapter, message rendering and secret redaction."""
