from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Service alerts: what dispatchers tell riders about disruptions (GTFS-RT Alerts)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"

    def ready(self) -> None:
        # The worker autodiscovers only the apps databus.celery lists: importing the tasks
        # here registers alerts.feed.build wherever Django starts (worker, beat, web).
        from alerts import tasks  # noqa: F401
