from django.db import migrations


def name_the_version_of_every_run(apps, schema_editor):
    """A run recorded its version as a string; it now points at that version's row (the assessment's
    own version when the recorded one was never synced here, as the run was graded with it then)."""
    GradingRun = apps.get_model("assessments", "GradingRun")
    Exercise = apps.get_model("assessments", "Exercise")
    versions = {(e.slug, e.version): e.pk for e in Exercise.objects.all()}
    runs = GradingRun.objects.select_related("submission__invitation__assessment__exercise")
    for run in runs.iterator(chunk_size=500):
        current = run.submission.invitation.assessment.exercise
        run.exercise_id = versions.get((current.slug, run.exercise_version), current.pk)
        run.save(update_fields=["exercise"])


class Migration(migrations.Migration):
    dependencies = [("assessments", "0007_versions_pinned_and_trial_regrades")]

    operations = [migrations.RunPython(name_the_version_of_every_run, migrations.RunPython.noop)]
