"""Partner API routes of checkout: sessions, orders, captures, voids, refunds, plans."""

urlpatterns: list[object] = []
