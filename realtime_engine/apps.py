from django.apps import AppConfig


class RealtimeEngineConfig(AppConfig):
    name = "realtime_engine"
    verbose_name = "Realtime engine"
