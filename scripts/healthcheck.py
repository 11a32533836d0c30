"""The image's HEALTHCHECK: GET /healthz on the local gunicorn; exit 0 when it answers 200.

Sent to a host the settings allow (the first of ALLOWED_HOSTS) and marked as forwarded over HTTPS, as
a real request would be; /healthz is also answered before the host check and the HTTPS redirect
(bnpl.core.middleware.LivenessMiddleware), as a load balancer asks it. Standard library only (the
check runs often, in the web container)."""

import http.client
import os
import sys


def main() -> int:
    host = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip() or "localhost"
    port = int(os.environ.get("HEALTHCHECK_PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz", headers={"Host": host, "X-Forwarded-Proto": "https"})
        status = connection.getresponse().status
    except OSError as error:
        sys.stderr.write(f"healthz: {error}\n")
        return 1
    finally:
        connection.close()
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
