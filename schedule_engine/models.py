"""The GTFS static schedule, stored per feed version.

Written only by the importer (`schedule_engine.gtfs_import`, bulk COPY inside one
transaction) and by the feed services (activate, delete); read through
`schedule_engine.selectors`. Every row belongs to one `Feed`; GTFS identifiers
(`trip_id`, `stop_id`, ...) are kept as text and are unique within their feed, so
references between GTFS rows are checked by the importer, not by foreign keys.

Times of day are seconds after the service day's origin (local noon minus 12 h),
as GTFS defines them, so `25:10:00` is 90600. Distances are geometric metres in the
shape's local projection; the feed's own `shape_dist_traveled` (in units the feed
does not state) is kept as given.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Feed(models.Model):
    """One imported version of a GTFS feed. At most one is current."""

    name = models.TextField(help_text="Source name given at import (defaults to the file name).")
    source = models.TextField(blank=True, help_text="Path the feed was imported from.")
    content_hash = models.CharField(max_length=64, unique=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    timezone = models.TextField(help_text="The agencies' time zone (IANA name).")
    is_current = models.BooleanField(default=False)
    stop_time_count = models.PositiveIntegerField(default=0)
    trip_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-imported_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"], condition=Q(is_current=True), name="one_current_feed"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}" + (" (current)" if self.is_current else "")


class Agency(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    agency_id = models.TextField(blank=True)
    name = models.TextField()
    url = models.TextField()
    timezone = models.TextField()
    lang = models.TextField(blank=True)
    phone = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "agencies"
        constraints = [
            models.UniqueConstraint(fields=["feed", "agency_id"], name="agency_unique_in_feed")
        ]

    def __str__(self) -> str:
        return self.name


class Route(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    route_id = models.TextField()
    agency_id = models.TextField(blank=True)
    short_name = models.TextField(blank=True)
    long_name = models.TextField(blank=True)
    desc = models.TextField(blank=True)
    route_type = models.IntegerField()
    url = models.TextField(blank=True)
    color = models.TextField(blank=True)
    text_color = models.TextField(blank=True)

    class Meta:
        ordering = ["route_id"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "route_id"], name="route_unique_in_feed")
        ]

    def __str__(self) -> str:
        return f"{self.route_id} {self.short_name or self.long_name}"


class LocationType(models.IntegerChoices):
    STOP = 0, "stop or platform"
    STATION = 1, "station"
    ENTRANCE = 2, "entrance/exit"
    GENERIC_NODE = 3, "generic node"
    BOARDING_AREA = 4, "boarding area"


class Stop(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    stop_id = models.TextField()
    code = models.TextField(blank=True)
    name = models.TextField(blank=True)
    desc = models.TextField(blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    zone_id = models.TextField(blank=True)
    location_type = models.SmallIntegerField(choices=LocationType.choices, default=0)
    parent_station = models.TextField(blank=True)
    wheelchair_boarding = models.SmallIntegerField(null=True, blank=True)
    platform_code = models.TextField(blank=True)

    class Meta:
        ordering = ["stop_id"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "stop_id"], name="stop_unique_in_feed")
        ]

    def __str__(self) -> str:
        return f"{self.stop_id} {self.name}"


class Trip(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    trip_id = models.TextField()
    route_id = models.TextField()
    service_id = models.TextField()
    headsign = models.TextField(blank=True)
    short_name = models.TextField(blank=True)
    direction_id = models.SmallIntegerField(null=True, blank=True)
    block_id = models.TextField(blank=True)
    shape_id = models.TextField(blank=True)
    wheelchair_accessible = models.SmallIntegerField(null=True, blank=True)
    bikes_allowed = models.SmallIntegerField(null=True, blank=True)
    # Derived at import from the trip's stop times (None when it has none).
    first_departure_s = models.IntegerField(null=True, blank=True)
    last_arrival_s = models.IntegerField(null=True, blank=True)
    stop_count = models.IntegerField(default=0)

    class Meta:
        ordering = ["trip_id"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "trip_id"], name="trip_unique_in_feed")
        ]
        indexes = [models.Index(fields=["feed", "service_id"])]

    def __str__(self) -> str:
        return self.trip_id


class StopTime(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    trip_id = models.TextField()
    stop_sequence = models.IntegerField()
    stop_id = models.TextField()
    # Seconds after the service day's origin; missing intermediate times are interpolated
    # at import (and such stops have timepoint False).
    arrival_s = models.IntegerField()
    departure_s = models.IntegerField()
    stop_headsign = models.TextField(blank=True)
    pickup_type = models.SmallIntegerField(default=0)
    drop_off_type = models.SmallIntegerField(default=0)
    timepoint = models.BooleanField(default=True)
    shape_dist_traveled = models.FloatField(null=True, blank=True)
    # Metres along the trip's shape (projected, non-decreasing); None without a shape.
    distance_m = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["feed", "trip_id", "stop_sequence"], name="stop_time_unique_in_feed"
            )
        ]

    def __str__(self) -> str:
        return f"{self.trip_id} #{self.stop_sequence} {self.stop_id}"


class ShapePoint(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    shape_id = models.TextField()
    sequence = models.IntegerField()
    lat = models.FloatField()
    lon = models.FloatField()
    # Cumulative metres from the first point, always computed.
    distance_m = models.FloatField()
    shape_dist_traveled = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["feed", "shape_id", "sequence"], name="shape_point_unique_in_feed"
            )
        ]

    def __str__(self) -> str:
        return f"{self.shape_id} #{self.sequence}"


class Calendar(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    service_id = models.TextField()
    monday = models.BooleanField()
    tuesday = models.BooleanField()
    wednesday = models.BooleanField()
    thursday = models.BooleanField()
    friday = models.BooleanField()
    saturday = models.BooleanField()
    sunday = models.BooleanField()
    start_date = models.DateField()
    end_date = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["feed", "service_id"], name="calendar_unique_in_feed")
        ]

    def __str__(self) -> str:
        return self.service_id


class ExceptionType(models.IntegerChoices):
    ADDED = 1, "service added"
    REMOVED = 2, "service removed"


class CalendarDate(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    service_id = models.TextField()
    date = models.DateField()
    exception_type = models.SmallIntegerField(choices=ExceptionType.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["feed", "service_id", "date"], name="calendar_date_unique_in_feed"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {self.date} {self.get_exception_type_display()}"


class Frequency(models.Model):
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    trip_id = models.TextField()
    start_s = models.IntegerField()
    end_s = models.IntegerField()
    headway_s = models.IntegerField()
    exact_times = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "frequencies"
        indexes = [models.Index(fields=["feed", "trip_id"])]

    def __str__(self) -> str:
        return f"{self.trip_id} every {self.headway_s} s"
