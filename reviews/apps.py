from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Review"

    def ready(self):
        from . import receivers

        receivers.connect()
