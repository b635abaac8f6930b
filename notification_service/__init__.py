"""Notification service: tells customers what happened to their orders, exactly once per kind."""
