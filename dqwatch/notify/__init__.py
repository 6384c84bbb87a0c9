"""Notifications: routing, the outbox sender, channels and their templates."""
