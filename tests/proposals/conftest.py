"""Fixtures of the proposal tests."""

from tests.recovery.deployments import recorded_demo_deployment

__all__ = ["recorded_demo_deployment"]  # an autouse fixture: registered for every module here
