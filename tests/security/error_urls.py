"""The project's URLs plus, in each area, a page that fails: for the error-page tests only."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

from bnpl import urls as project

handler400 = project.handler400
handler403 = project.handler403
handler404 = project.handler404
handler500 = project.handler500

SECRET_DETAIL = "pln_SECRETDETAIL123456 secret-table-name"  # what an exception says must never show


def fails(request: HttpRequest, status: int) -> HttpResponse:
    if status == 400:
        raise SuspiciousOperation(SECRET_DETAIL)
    if status == 403:
        raise PermissionDenied(SECRET_DETAIL)
    if status == 404:
        raise Http404(SECRET_DETAIL)
    raise RuntimeError(SECRET_DETAIL)


urlpatterns = [
    path("merchant/_fails/<int:status>", fails),
    path("admin/_fails/<int:status>", fails),
    path("checkout/_fails/<int:status>", fails),
    path("api/v1/_fails/<int:status>", fails),
    *project.urlpatterns,
]
