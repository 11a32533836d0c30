"""Factories for checkout sessions, orders and plans (registered for the schema-walking tests)."""
