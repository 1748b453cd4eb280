import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")
application = get_wsgi_application()

# After Django is set up: the measures' libraries load with the worker (gunicorn replaces one every
# WEB_MAX_REQUESTS requests), not inside the first dashboard recompute it serves (~1.6 s).
from annotator.domain.metrics import libraries_preload  # noqa: E402

libraries_preload()
