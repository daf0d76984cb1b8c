from typing import Any

from django.apps import AppConfig


def _configure_engine(**_: Any) -> None:
    """Hand the engine (which never imports Django) its SANDBOX_* settings, now and whenever they change."""
    from django.conf import settings

    import grader.config

    grader.config.configure(**{name: getattr(settings, name) for name in dir(settings) if name.startswith("SANDBOX_")})


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Assessments and grading"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        _configure_engine()
        setting_changed.connect(_configure_engine, dispatch_uid="assessments.configure_engine")
