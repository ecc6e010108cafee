"""URL routes of the schedule_engine app, mounted at `api/schedule/`."""

from django.urls import path

from schedule_engine.api import views

urlpatterns = [
    path("routes/", views.RouteListApi.as_view(), name="schedule-routes"),
    path("stops/", views.StopListApi.as_view(), name="schedule-stops"),
    path("trips/<str:trip_id>/", views.TripDetailApi.as_view(), name="schedule-trip"),
    path("service-day/<str:date>/", views.ServiceDayApi.as_view(), name="schedule-service-day"),
]
