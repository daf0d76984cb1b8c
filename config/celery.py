import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A worker takes grading work only once it has proved it can grade (its signal handlers).
import workflows.worker  # noqa: E402, F401
