"""API routes: filled in by the verification work."""

urlpatterns: list = []
