"""The roles the mission names, as Django groups with permissions.

- *committee*: opens incidents, runs impact analyses, builds plans (later: signs off, publishes);
- *executor*: runs and pauses execution of approved plans;
- everyone else reads.

The permissions are declared on ``Incident`` (``Meta.permissions``); migration
``0002_roles`` creates the groups, and ``manage.py role`` adds and removes members.
"""

COMMITTEE = "committee"
EXECUTOR = "executor"

OPEN_INCIDENT = "recovery.open_incident"
RUN_ANALYSIS = "recovery.run_analysis"
BUILD_PLAN = "recovery.build_plan"
RUN_EXECUTION = "recovery.run_execution"
PAUSE_EXECUTION = "recovery.pause_execution"

# group -> permission codenames (without the app label)
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    COMMITTEE: ("open_incident", "run_analysis", "build_plan"),
    EXECUTOR: ("run_execution", "pause_execution"),
}
