"""Factories for webhook deliveries (registered for the schema-walking tests)."""
