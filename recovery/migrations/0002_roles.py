"""The committee and executor groups with their permissions (recovery/roles.py)."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "committee": ("open_incident", "run_analysis", "build_plan"),
    "executor": ("run_execution", "pause_execution"),
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); make them now so
    # the groups can hold them.
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="recovery", codename__in=codenames)
        )


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="incident",
            options={
                "ordering": ["-created_at", "-pk"],
                "permissions": [
                    ("open_incident", "Open an incident"),
                    ("run_analysis", "Request and cancel impact analyses"),
                    ("build_plan", "Build recovery plan versions"),
                    ("run_execution", "Run approved batches on chain"),
                    ("pause_execution", "Pause and resume execution"),
                ],
            },
        ),
        migrations.RunPython(create_roles, drop_roles),
    ]
