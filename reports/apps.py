from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reports for planners: on-time performance, headways, running times, prediction
    accuracy and data quality, over stop events, the prediction log and position history."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
