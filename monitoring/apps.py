from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Monitors that watch deployments, fire rules, and answer with a circuit breaker."""

    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"
