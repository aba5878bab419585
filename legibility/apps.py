from django.apps import AppConfig


class LegibilityConfig(AppConfig):
    name = "legibility"
    verbose_name = "Prover samples"
