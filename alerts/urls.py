"""URL routes of the alerts app (mounted at ``/api/alerts/``)."""

urlpatterns: list = []
