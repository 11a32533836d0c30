"""Consumer sessions: ``request.consumer`` is the signed-in consumer or ``None``. Consumers use
Django's session machinery under their own key, apart from staff and merchant users."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from consumers.selectors import SESSION_KEY, consumer_for_session


class ConsumerSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        consumer = consumer_for_session(public_id=request.session.get(SESSION_KEY))
        request.consumer = consumer  # type: ignore[attr-defined]
        return self.get_response(request)
