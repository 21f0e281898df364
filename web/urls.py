"""The pages' URLs; each module of views adds its own list here."""

urlpatterns: list = []
