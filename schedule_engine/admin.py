"""Admin pages of the schedule: feed versions (list, activate, delete) and read-only,
searchable routes, stops and trips. Feeds are created by `manage.py import_gtfs`."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename

from schedule_engine.gtfs_import.fields import format_time
from schedule_engine.models import Feed, Route, Stop, Trip
from schedule_engine.services import feed_activate, feed_delete


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "is_current",
        "imported_at",
        "valid_from",
        "valid_until",
        "timezone",
        "trip_count",
        "stop_time_count",
    )
    list_display_links = ("id", "name")
    readonly_fields = [f.name for f in Feed._meta.fields]
    actions = ["activate_feed"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The current version cannot be deleted; activate another one first.
        return super().has_delete_permission(request, obj) and not (obj and obj.is_current)

    def has_activate_permission(self, request) -> bool:
        # The pages are read-only (no change permission for anyone), but activating is a
        # change of the schedule: it needs the model's change permission.
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.action(permissions=["activate"], description="Make the selected feed current")
    def activate_feed(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one feed to activate.", messages.ERROR)
            return
        feed = feed_activate(feed=queryset.get())
        self.message_user(request, f"Feed {feed} is now current.", messages.SUCCESS)

    def get_deleted_objects(self, objs, request):
        # A feed's schedule rows go with it: listing (and permission-checking) hundreds of
        # thousands of read-only rows on the confirmation page helps nobody.
        feeds = [str(feed) for feed in objs]
        return feeds, {"feeds": len(feeds)}, set(), []

    def delete_model(self, request, obj):
        feed_delete(feed=obj)

    def delete_queryset(self, request, queryset):
        current = queryset.filter(is_current=True)
        if current.exists():
            self.message_user(request, "The current feed was not deleted.", messages.WARNING)
        for feed in queryset.filter(is_current=False):
            feed_delete(feed=feed)


class ReadOnlyScheduleAdmin(admin.ModelAdmin):
    list_filter = ("feed",)
    list_select_related = ("feed",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Route)
class RouteAdmin(ReadOnlyScheduleAdmin):
    list_display = ("route_id", "short_name", "long_name", "route_type", "feed")
    search_fields = ("route_id", "short_name", "long_name")


@admin.register(Stop)
class StopAdmin(ReadOnlyScheduleAdmin):
    list_display = (
        "stop_id",
        "code",
        "name",
        "location_type",
        "parent_station",
        "lat",
        "lon",
        "feed",
    )
    search_fields = ("stop_id", "code", "name")


@admin.register(Trip)
class TripAdmin(ReadOnlyScheduleAdmin):
    list_display = (
        "trip_id",
        "route_id",
        "service_id",
        "direction_id",
        "headsign",
        "shape_id",
        "start_time",
        "feed",
    )
    search_fields = ("trip_id", "route_id", "headsign", "block_id")

    @admin.display(description="start time")
    def start_time(self, trip: Trip) -> str:
        return format_time(trip.first_departure_s) if trip.first_departure_s is not None else ""
