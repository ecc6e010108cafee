from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Service alerts: what dispatchers tell riders about disruptions (GTFS-RT Alerts)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"
