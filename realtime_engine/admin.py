"""Admin for realtime_engine: vehicles' broker accounts, read only.

``manage.py broker_credentials`` alone issues and revokes secrets, since it also rewrites
the broker's files and prints a new secret once. Here staff with the view permission
see which vehicles have an account and when its secret was issued; never the hash.
"""

from __future__ import annotations

from django.contrib import admin

from realtime_engine.models import BrokerCredential


@admin.register(BrokerCredential)
class BrokerCredentialAdmin(admin.ModelAdmin):
    list_display = ["vehicle", "rotated_at"]
    search_fields = ["vehicle__id", "vehicle__label"]
    fields = ["vehicle", "rotated_at"]
    readonly_fields = fields
    ordering = ["vehicle"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
