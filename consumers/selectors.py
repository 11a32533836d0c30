from __future__ import annotations

from django.db.models import QuerySet

from consumers.models import Consumer, SandboxMessage


def consumer_for_session(*, public_id: str | None) -> Consumer | None:
    if not public_id:
        return None
    return Consumer.objects.filter(public_id=public_id, status=Consumer.Status.ACTIVE).first()


def sandbox_message_list(*, destination: str | None = None, limit: int = 50) -> QuerySet[SandboxMessage]:
    queryset = SandboxMessage.objects.all()
    destination = (destination or "").replace("\x00", "")
    if destination:
        queryset = queryset.filter(destination__iexact=destination.strip())
    return queryset[:limit]
