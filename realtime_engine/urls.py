"""URL routes of the realtime_engine app."""

urlpatterns: list = []
