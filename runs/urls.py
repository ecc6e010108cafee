"""URL routes of the runs app."""

urlpatterns: list = []
