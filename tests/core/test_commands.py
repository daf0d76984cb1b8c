"""The management commands a fresh machine runs: sync_exercises and seed_demo."""

import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from assessments.models import Exercise
from candidates.models import Invitation
from core.models import AuditEvent
from rubrics.models import Criterion, Rubric
from tests.conftest import FIXTURES

TINY = FIXTURES / "exercises" / "tiny-echo"


def _sync(*dirs, force=False):
    out = StringIO()
    call_command("sync_exercises", *[str(d) for d in dirs], force=force, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def package_dir(tmp_path):
    shutil.copytree(TINY, tmp_path / "tiny-echo")
    return tmp_path


def test_it_loads_a_package_with_its_version_checksum_and_rubric(db, package_dir):
    assert "created   tiny-echo 0.1.0" in _sync(package_dir)
    exercise = Exercise.objects.get(slug="tiny-echo")
    assert exercise.version == "0.1.0" and len(exercise.checksum) == 64 and exercise.is_current
    assert exercise.entry_point == "echo:answer" and exercise.time_limit_minutes == 60
    rubric = Rubric.objects.get(slug="tiny-echo")
    assert [c.slug for c in rubric.criteria.all()] == ["grounding", "notes"]
    assert Criterion.objects.get(slug="grounding").anchors[3] == "Verifies quotes and abstains."


def test_a_second_sync_changes_nothing(db, package_dir):
    _sync(package_dir)
    events = AuditEvent.objects.count()
    assert "unchanged tiny-echo 0.1.0" in _sync(package_dir)
    assert Exercise.objects.count() == 1 and AuditEvent.objects.count() == events


def test_it_refuses_changed_files_under_the_same_version(db, package_dir):
    _sync(package_dir)
    (package_dir / "tiny-echo" / "brief.md").write_text("# Changed\n")
    with pytest.raises(CommandError, match="could not be synced"):
        _sync(package_dir)
    assert "updated" in _sync(package_dir, force=True)


def test_a_new_version_becomes_current_and_the_old_one_stays(db, package_dir):
    _sync(package_dir)
    manifest = package_dir / "tiny-echo" / "exercise.toml"
    manifest.write_text(manifest.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    _sync(package_dir)
    versions = dict(Exercise.objects.values_list("version", "is_current"))
    assert versions == {"0.1.0": False, "0.2.0": True}


def test_an_earlier_version_synced_later_does_not_take_the_current_ones_place(db, tmp_path, package_dir):
    older = tmp_path / "previous"
    shutil.copytree(package_dir / "tiny-echo", older / "tiny-echo")
    manifest = package_dir / "tiny-echo" / "exercise.toml"
    manifest.write_text(manifest.read_text().replace('version = "0.1.0"', 'version = "0.10.0"'))

    _sync(package_dir)
    assert "created   tiny-echo 0.1.0" in _sync(older)  # 0.1.0 after 0.10.0: kept, not current
    assert "unchanged tiny-echo 0.1.0" in _sync(older)
    assert "unchanged tiny-echo 0.10.0" in _sync(package_dir)

    assert dict(Exercise.objects.values_list("version", "is_current")) == {"0.1.0": False, "0.10.0": True}


def test_the_repository_syncs_help_desk_2_as_current_and_keeps_1_3_beside_it(db):
    from django.conf import settings as live

    assert [p.name for p in live.EXERCISE_DIRS[:2]] == ["exercises", "previous"]
    _sync(*reversed(live.EXERCISE_DIRS[:2]))  # either order gives the same current version
    versions = dict(Exercise.objects.filter(slug="helpdesk-answerer").values_list("version", "is_current"))

    assert versions == {"1.3.0": False, "2.0.0": True}


def test_it_names_the_broken_file(db, package_dir):
    (package_dir / "tiny-echo" / "exercise.toml").write_text('slug = "tiny-echo"\ntitle = [broken')
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("sync_exercises", str(package_dir), stdout=StringIO(), stderr=err)
    assert "exercise.toml: not valid TOML" in err.getvalue()


@pytest.mark.slow
def test_seed_demo_puts_a_candidate_in_every_state_and_is_idempotent(db, settings, exercise):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--exercise", "tiny-echo", stdout=out)
    states = set(Invitation.objects.values_list("state", flat=True))
    assert states == {s for s, _ in Invitation.STATES}
    assert "manager" in out.getvalue() and "demo-manager-pass" in out.getvalue()
    counts = (Invitation.objects.count(), AuditEvent.objects.count())
    call_command("seed_demo", "--exercise", "tiny-echo", stdout=StringIO())
    assert (Invitation.objects.count(), AuditEvent.objects.count()) == counts


def test_seed_demo_refuses_to_run_in_production(db, settings, exercise):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
