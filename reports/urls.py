"""REST endpoints of the reports (mounted at ``/api/reports/``)."""

urlpatterns: list = []
