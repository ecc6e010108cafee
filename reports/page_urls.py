"""Report pages (mounted at ``/reports/``): the index and one page per report."""

from django.urls import path

from reports import views

urlpatterns = [
    path("", views.index, name="reports-index"),
    *(
        path(f"{page.slug}/", views.report_page, {"slug": page.slug}, name=page.url_name)
        for page in views.PAGES
    ),
]
