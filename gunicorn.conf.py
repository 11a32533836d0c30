"""gunicorn's settings for the web process (``gunicorn bnpl.wsgi``), read from the working directory.

The request limits are stated here, not left to defaults, because docs/api.md documents them; a test
(tests/security/test_oversized_bodies.py) starts gunicorn with this file and checks each one. They
are enforced before Django sees the request, with gunicorn's plain-text answers:

* request line (method, path and query, version) longer than ``limit_request_line`` bytes: 414;
* more than ``limit_request_fields`` header fields, or one longer than ``limit_request_field_size``
  bytes: 431.

Body size is Django's (``DATA_UPLOAD_MAX_MEMORY_SIZE``): the API answers 413 in its JSON error shape.
"""

limit_request_line = 4094  # bytes
limit_request_fields = 100
limit_request_field_size = 8190  # bytes
