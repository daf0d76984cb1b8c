from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("assessments", "0009_gradingrun_exercise_required")]

    operations = [
        migrations.AddField(
            model_name='proberesult',
            name='score',
            field=models.FloatField(blank=True, help_text="A graded probe's fraction of a point, 0 to 1 (counted whatever the outcome); empty: pass/fail.", null=True),
        ),
        migrations.AddConstraint(
            model_name='proberesult',
            constraint=models.CheckConstraint(condition=models.Q(('score__isnull', True), models.Q(('outcome__in', ['pass', 'fail']), ('score__gte', 0), ('score__lte', 1)), _connector='OR'), name='proberesult_score_fraction_of_judged'),
        ),
    ]
