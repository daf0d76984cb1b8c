import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("assessments", "0008_name_the_version_of_every_run")]

    operations = [
        migrations.AlterField(
            model_name='gradingrun',
            name='exercise',
            field=models.ForeignKey(help_text='The exact version graded with.', on_delete=django.db.models.deletion.PROTECT, related_name='grading_runs', to='assessments.exercise'),
        ),
        migrations.RemoveField(
            model_name='gradingrun',
            name='exercise_version',
        ),
    ]
