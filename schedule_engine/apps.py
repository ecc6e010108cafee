from django.apps import AppConfig


class ScheduleEngineConfig(AppConfig):
    name = "schedule_engine"
    verbose_name = "Schedule engine"
