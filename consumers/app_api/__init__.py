"""The consumer app's API (``/api/consumer/v1/``): JWT authentication bound to a device, the base
every endpoint inherits, its OpenAPI schema, the endpoints and their routes."""
