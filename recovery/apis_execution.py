"""API routes: filled in by the execution work."""

urlpatterns: list = []
