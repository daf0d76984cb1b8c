"""The shared cast: a manager, two reviewers, two candidates and an outsider, plus an assessment."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from assessments.models import Exercise
from assessments.services import assessment_create
from candidates.services import candidate_get_or_create, invitation_create
from core.roles import MANAGERS, REVIEWERS, ensure_role_groups
from grader.package import load_package, package_checksum
from rubrics.models import Rubric
from rubrics.services import rubric_sync
from workflows.exercises import exercise_sync

FIXTURES = Path(__file__).parent / "fixtures"
# Exercise packages kept as fixtures hold their own starter and reference test suites, written for a
# candidate's machine (the bundled fake model, no Django): they are not the platform's tests.
collect_ignore_glob = ["fixtures/exercises/*"]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", autouse=True)
def _exercise_cache(tmp_path_factory):
    """This run's own cache of unpacked exercise versions, never the dev server's: a test that spoils
    one must not spoil it for another checkout. The workers the suite starts inherit it."""
    from django.conf import settings

    cache = tmp_path_factory.mktemp("exercise-cache")
    settings.EXERCISE_CACHE_DIR = cache
    os.environ["EXERCISE_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Failed sign-ins and magic-link attempts count in the cache: one test's must not lock the next out."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _user(username: str, group: str | None = None, **extra) -> User:
    if group and not Group.objects.filter(name=group).exists():
        # Transactional tests flush the tables between tests, and the groups with them.
        ensure_role_groups()
    user = User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com", **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def manager(db):
    return _user("alice", MANAGERS, first_name="Alice", last_name="Manager")


@pytest.fixture
def other_manager(db):
    return _user("mallory", MANAGERS)


@pytest.fixture
def reviewer(db):
    return _user("bob", REVIEWERS)


@pytest.fixture
def reviewer2(db):
    return _user("carol", REVIEWERS)


@pytest.fixture
def outsider(db):
    return _user("eve")


@pytest.fixture
def exercise(db):
    exercise, _ = exercise_sync(package=load_package(FIXTURES / "exercises" / "tiny-echo"))
    return exercise


@pytest.fixture
def assessment(manager, exercise):
    return assessment_create(
        owner=manager,
        title="Applied AI engineer, autumn",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=30),
    )


# Two failure modes no platform code knows of, worded by their (imaginary) package, in its order
# (not the alphabetical one).
CUSTOM_MODES = [
    {
        "slug": "ordering",
        "title": "Event ordering",
        "hint": "Events that arrive late or out of order.",
        "description": "Staff: webhooks are delivered shuffled and duplicated; the ledger must converge.",
    },
    {
        "slug": "idempotency",
        "title": "Idempotency",
        "hint": "The same request sent twice must not act twice.",
        "description": "Staff: each probe replays a payment with the same key and counts the charges.",
    },
]


@pytest.fixture
def custom_exercise(exercise, tmp_path):
    """A synced exercise row that declares CUSTOM_MODES (in that order) and takes a JSON object.

    Its package folder is ``tmp_path / "ledger-sync"`` (empty: a test may put a ``templates/call.html``
    there with ``tests.builders.package_files_write``); its entry point is tiny-echo's, so the default
    test upload is a valid one.
    """
    package = tmp_path / "ledger-sync"
    package.mkdir()
    return Exercise.objects.create(
        slug="ledger-sync",
        version="2.0.0",
        title="Harden the ledger sync",
        checksum=package_checksum(package),
        package_path=str(package),
        entry_point=exercise.entry_point,
        time_limit_minutes=60,
        rubric_slug="ledger-sync",
        limits=exercise.limits,
        contract={"entry_point": exercise.entry_point, "input": {"type": "object"}, "output": {"type": "object"}},
        failure_modes=CUSTOM_MODES,
    )


@pytest.fixture
def custom_assessment(manager, custom_exercise):
    """An assessment of ``custom_exercise`` whose rubric scores its modes."""
    anchors = ["None.", "Some.", "Most.", "All."]
    rubric, _ = rubric_sync(
        definition={
            "slug": "ledger-sync",
            "title": "Ledger sync rubric",
            "criteria": [
                {"slug": "safe-retries", "title": "Safe retries", "failure_modes": ["idempotency"], "anchors": anchors},
                {"slug": "convergence", "title": "Convergence", "failure_modes": ["ordering"], "anchors": anchors},
            ],
        }
    )
    return assessment_create(
        owner=manager,
        title="Payments engineer",
        exercise=custom_exercise,
        rubric=rubric,
        closes_at=timezone.now() + timedelta(days=30),
    )


@pytest.fixture
def candidate(db):
    return candidate_get_or_create(name="Dana Candidate", email="dana@example.com")


@pytest.fixture
def candidate2(db):
    return candidate_get_or_create(name="Sam Candidate", email="sam@example.com")


@pytest.fixture
def invitation(assessment, candidate, manager):
    invitation, _token = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
    return invitation


@pytest.fixture(scope="session")
def debrief_model():
    """The fake model the session's worker drafts debrief guides with; a test sets its script and
    responder (``debrief_model.reset(script=…)``, ``debrief_model.responder = …``)."""
    from grader.fakemodel import FakeModel

    model = FakeModel(script="ok").start()
    yield model
    model.stop()


DEBRIEF_TEST_KEY = "sk-ant-test-worker-0000000000009999"


@pytest.fixture(scope="session")
def _celery_worker_session(django_db_setup, django_db_blocker, debrief_model):
    """One real worker for the whole session; starting one costs seconds."""
    from tests.workers import WorkerProcess

    env = {
        # The tests' webhook receivers listen on 127.0.0.1, which a real deployment refuses.
        "WEBHOOK_ALLOWED_NETWORKS": LOCAL_RECEIVERS,
        # Debrief guides are drafted by the session's fake model, never the real API.
        "ANTHROPIC_API_KEY": DEBRIEF_TEST_KEY,
        "ANTHROPIC_BASE_URL": debrief_model.base_url,
        "DEBRIEF_MODEL": "claude-test",
        "DEBRIEF_RETRY_BASE_S": "1",
    }
    with django_db_blocker.unblock():
        worker = WorkerProcess(extra_env=env).start()
    yield worker
    worker.stop()


LOCAL_RECEIVERS = "127.0.0.1/32"


@pytest.fixture
def local_receivers(settings):
    """Let webhooks reach the tests' receivers on 127.0.0.1 (only there: the rest stays refused)."""
    settings.WEBHOOK_ALLOWED_NETWORKS = [LOCAL_RECEIVERS]


@pytest.fixture
def celery_worker(_celery_worker_session, transactional_db):
    """A real worker process on the real broker, reading and writing the test database."""
    if _celery_worker_session.proc.poll() is not None:
        pytest.fail("The session's Celery worker died:\n" + "\n".join(_celery_worker_session.output))
    from config.celery import app

    # Messages earlier tests left behind point at rows their flush removed; do not queue behind them.
    app.control.purge()
    return _celery_worker_session


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's broker folder and beat schedules (the test database removes itself)."""
    import shutil

    from django.conf import settings

    run_id = os.environ.get("TEST_RUN_ID")
    if run_id != str(os.getpid()):
        return  # a run started by another process owns them
    shutil.rmtree(settings.VAR_DIR / f"test-celery-broker-{run_id}", ignore_errors=True)
    for path in settings.VAR_DIR.glob(f"test-beat-{os.getpid()}-*"):
        path.unlink(missing_ok=True)
