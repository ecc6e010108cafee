"""URL routes of the schedule_engine app."""

urlpatterns: list = []
