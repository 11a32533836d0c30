"""Partner API routes of checkout: sessions, orders, captures, voids, refunds, plans, products."""

from django.urls import path

from bnpl.checkout import apis

urlpatterns = [
    path("checkout/sessions", apis.CheckoutSessionListCreateApi.as_view(), name="checkout-session-list"),
    path("checkout/sessions/<str:id>", apis.CheckoutSessionDetailApi.as_view(), name="checkout-session-detail"),
    path("orders", apis.OrderListApi.as_view(), name="order-list"),
    path("orders/<str:id>", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:id>/captures", apis.OrderCaptureApi.as_view(), name="order-capture"),
    path("orders/<str:id>/void", apis.OrderVoidApi.as_view(), name="order-void"),
    path("orders/<str:id>/refunds", apis.OrderRefundApi.as_view(), name="order-refund"),
    path("disputes", apis.DisputeListApi.as_view(), name="dispute-list"),
    path("disputes/<str:id>", apis.DisputeDetailApi.as_view(), name="dispute-detail"),
    path("disputes/<str:id>/accept", apis.DisputeAcceptApi.as_view(), name="dispute-accept"),
    path("disputes/<str:id>/contest", apis.DisputeContestApi.as_view(), name="dispute-contest"),
    path("plans/<str:id>", apis.PlanDetailApi.as_view(), name="plan-detail"),
    path("payment_products", apis.PaymentProductListApi.as_view(), name="payment-product-list"),
]
