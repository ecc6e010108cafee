"""REST endpoints of the reports (mounted at ``/api/reports/``)."""

from django.urls import path

from reports import api

urlpatterns = [
    path("on-time/", api.OnTimeApi.as_view(), name="reports-on-time"),
    path("headways/", api.HeadwaysApi.as_view(), name="reports-headways"),
    path("running-times/", api.RunningTimesApi.as_view(), name="reports-running-times"),
    path(
        "prediction-accuracy/",
        api.PredictionAccuracyApi.as_view(),
        name="reports-prediction-accuracy",
    ),
    path("data-quality/", api.DataQualityApi.as_view(), name="reports-data-quality"),
]
