import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# `runserver` loads this module too: in the embedded mode (DEBUG, the insecure secret key) the
# web process refuses to serve against a node that is not the dev chain.
from config.preflight import ConfigurationError, refuse_a_real_node_in_the_embedded_mode  # noqa: E402

try:
    refuse_a_real_node_in_the_embedded_mode()
except ConfigurationError as error:
    raise ImproperlyConfigured(str(error)) from None
