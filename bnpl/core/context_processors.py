from django.conf import settings
from django.http import HttpRequest


def sandbox(request: HttpRequest) -> dict[str, object]:
    return {"BNPL_SANDBOX": settings.BNPL_SANDBOX}
