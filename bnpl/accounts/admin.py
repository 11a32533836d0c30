from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from bnpl.accounts import two_factor
from bnpl.accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "full_name"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


# --- Second factors: seen, and removed through the audited service, never edited ------------------
# django-otp's own admin pages would show and edit keys and backup codes and delete devices without
# an audit row; they are replaced by one read-only list whose only action removes a person's second
# factor (a lost phone) through bnpl.accounts.two_factor.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(TOTPDevice)
class AuthenticatorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Enrolled authenticator apps. Operators get theirs from ``manage.py two_factor_enroll``;
    merchant users enroll in the dashboard."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__email"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    readonly_fields = fields  # type: ignore[assignment]  # every field shown, none editable (never the key)
    actions = ["remove_second_factor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # removal goes through the action below (audited), never a bare delete

    def has_remove_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("otp_totp.delete_totpdevice"))  # type: ignore[union-attr]

    @admin.action(
        description="Remove the second factor of the selected people (authenticator and backup codes)",
        permissions=["remove"],
    )
    def remove_second_factor(self, request: HttpRequest, queryset: QuerySet[TOTPDevice]) -> None:
        for user in User.objects.filter(pk__in=queryset.values("user_id")):
            two_factor.two_factor_remove(user=user)
            self.message_user(request, f"{user.email}: second factor removed.")
