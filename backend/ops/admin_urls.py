"""The operations pages of the admin, mounted at ``/admin/ops/`` before the admin's own URLs
(backend/urls.py), and the admin index's link to them (its index template, set on the
default site here as Django's docs set its headers: in the URLconf that mounts it)."""

from django.contrib import admin
from django.urls import path

from backend.ops.admin_page import status_page, template

admin.site.index_template = template("admin_index.html")

urlpatterns = [
    path(
        "status/",
        admin.site.admin_view(lambda request: status_page(request, admin.site)),
        name="ops-status-admin",
    ),
]
