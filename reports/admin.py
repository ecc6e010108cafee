"""The admin's index links the report pages (``templates/reports/admin/index.html``).

The admin app comes before ``reports`` in INSTALLED_APPS, so a template named
``admin/index.html`` here would never be found; the site's ``index_template`` names ours,
which extends the admin's own.
"""

from django.contrib import admin

admin.site.index_template = "reports/admin/index.html"
