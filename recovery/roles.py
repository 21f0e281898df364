"""The roles the mission names, as Django groups with permissions.

- *committee*: opens incidents, runs impact analyses, builds plans, signs off and publishes;
  configures monitors, records unpauses, pauses or shuts down watched contracts, takes snapshots;
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
MANAGE_MONITORS = "recovery.manage_monitors"
TAKE_SNAPSHOT = "recovery.take_snapshot"
SHUT_DOWN = "recovery.shut_down"

# group -> permission codenames (without the app label)
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    COMMITTEE: ("open_incident", "run_analysis", "build_plan", "manage_monitors", "take_snapshot", "shut_down"),
    EXECUTOR: ("run_execution", "pause_execution"),
}


def sync_roles(**_: object) -> None:
    """Create the role groups and give each exactly its permissions; idempotent.

    Connected to ``post_migrate`` (recovery/apps.py), so the groups exist after every
    ``migrate`` and after a test database flush, and a permission added here reaches
    existing databases without a data migration.
    """
    from django.contrib.auth.models import Group, Permission

    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = Permission.objects.filter(content_type__app_label="recovery", codename__in=codenames)
        if len(wanted) != len(codenames):
            continue  # permissions not created yet (the post_migrate of auth runs in its own turn)
        group.permissions.add(*wanted)
