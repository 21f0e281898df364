from rest_framework import status as http

from config.errors import LifeboatError


class DeploymentNotFound(LifeboatError):
    code = "deployment_not_found"
    status = http.HTTP_404_NOT_FOUND
