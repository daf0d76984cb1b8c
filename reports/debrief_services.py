"""Writes for the debrief guide: ask for one, and draft it (the Celery task's one call).

Its own module rather than more of reports/services.py, which is about decisions and webhooks and
already past a few hundred lines. The prompt, schema and checks are in reports.debrief.
"""

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anthropic
from anthropic.types import ToolChoiceToolParam, ToolParam, UserMessageParam
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from assessments.models import GradingRun
from candidates.models import Submission
from core.audit import audit_record
from grader.unpack import ArchiveLimits, ArchiveRejected, unpack_archive
from reports.debrief import (
    GUIDE_TOOL,
    SYSTEM_PROMPT,
    TOOL_NAME,
    MalformedGuide,
    Material,
    build_user_turn,
    parse_guide,
    select_files,
    verify_questions,
)
from reports.models import DebriefGuide
from reports.tasks import draft_debrief as draft_debrief_task
from rubrics.selectors import latest_done_run, starter_dir_for

log = logging.getLogger(__name__)
MAX_TOKENS = 4096


class DebriefUnavailable(Exception):
    """The guide cannot be asked for: no API key, or nothing graded to ask about."""


def debrief_request(*, submission: Submission, requested_by: User) -> DebriefGuide:
    """Queue a draft of the upload's guide (again, after a failure or to replace it); an active one is left be."""
    if not settings.ANTHROPIC_API_KEY:
        raise DebriefUnavailable("No Anthropic API key is configured, so debrief guides are off.")
    run = latest_done_run(submission=submission)
    if run is None:
        raise DebriefUnavailable("The upload has no finished grading run yet.")
    with transaction.atomic():
        guide, created = DebriefGuide.objects.select_for_update().get_or_create(
            submission=submission, defaults={"run": run, "requested_by": requested_by}
        )
        if not created and not guide.can_retry:
            return guide  # queued or drafting: one draft at a time
        for name, value in {
            "run": run,
            "requested_by": requested_by,
            "status": DebriefGuide.QUEUED,
            "requested_at": timezone.now(),
            "started_at": None,
            "finished_at": None,
            "attempts": 0,
            "error": "",
            "questions": [],
            "dropped": [],
            "prompt": "",
            "input_tokens": None,
            "output_tokens": None,
        }.items():
            setattr(guide, name, value)
        guide.save()
        audit_record(actor=requested_by, action="debrief.requested", target=submission, data={"guide": guide.pk})
        guide_id = guide.pk
        transaction.on_commit(lambda: draft_debrief_task.delay(guide_id))
    return guide


def debrief_material(*, submission: Submission, run: GradingRun | None) -> Material:
    """The upload's text files (those the starter kit did not already hold as they are), notes and probes."""
    starter, exercise = starter_dir_for(submission)
    files: dict[str, str] = {}
    omitted: list[str] = []
    with tempfile.TemporaryDirectory(prefix="debrief-") as tmp:
        manifest = unpack_archive(submission.archive_bytes(), Path(tmp), ArchiveLimits.from_exercise(exercise.limits))
        for rel in manifest.files:
            data = (Path(tmp) / rel).read_bytes()
            if starter is not None and (starter / rel).is_file() and (starter / rel).read_bytes() == data:
                continue
            try:
                files[rel] = data.decode("utf-8")
            except UnicodeDecodeError:
                omitted.append(rel)
    shown, too_big = select_files(files)
    probes = {
        r.probe_id: {"outcome": r.outcome, "mode": r.failure_mode, "reason": r.reason}
        for r in (run.results.all() if run else [])
    }
    return Material(files=shown, notes=submission.notes or "", probes=probes, omitted=sorted(omitted + too_big))


@dataclass
class DraftAttempt:
    retry: bool = False
    countdown: float = 0.0


class _Transient(Exception):
    """Worth trying again later: a rate limit, an overload, a timeout, a dropped connection."""


def _client() -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=settings.ANTHROPIC_API_KEY,
        base_url=settings.ANTHROPIC_BASE_URL,
        timeout=float(settings.DEBRIEF_TIMEOUT_S),
        max_retries=settings.DEBRIEF_SDK_RETRIES,
    )


def _ask(user_turn: str) -> anthropic.types.Message:
    """One call, its failures turned into a reason staff can read (_Transient when worth another try)."""
    with _client() as client:
        try:
            return client.messages.create(
                model=settings.DEBRIEF_MODEL,
                max_tokens=MAX_TOKENS,
                system=SYSTEM_PROMPT,
                tools=[cast(ToolParam, GUIDE_TOOL)],
                tool_choice=ToolChoiceToolParam(type="tool", name=TOOL_NAME),
                messages=[UserMessageParam(role="user", content=user_turn)],
            )
        except anthropic.RateLimitError as exc:
            raise _Transient("The model's rate limit was reached (HTTP 429)") from exc
        except anthropic.APITimeoutError as exc:
            raise _Transient(f"The model did not answer within {settings.DEBRIEF_TIMEOUT_S} s") from exc
        except anthropic.APIConnectionError as exc:
            raise _Transient("The model's API could not be reached") from exc
        except anthropic.InternalServerError as exc:
            what = "is overloaded" if exc.status_code == 529 else "failed"
            raise _Transient(f"The model's API {what} (HTTP {exc.status_code})") from exc
        except anthropic.APIStatusError as exc:
            raise MalformedGuide(f"the API refused the request (HTTP {exc.status_code})") from exc
        except (json.JSONDecodeError, anthropic.APIResponseValidationError) as exc:
            raise MalformedGuide("the API's answer was not valid JSON") from exc


def _tool_input(message: anthropic.types.Message) -> Any:
    if message.stop_reason == "max_tokens":
        raise MalformedGuide("the answer was cut off at the token limit")
    if message.stop_reason == "refusal":
        raise MalformedGuide("the model refused")
    uses = [b for b in message.content if b.type == "tool_use" and b.name == TOOL_NAME]
    if len(uses) != 1:
        raise MalformedGuide("the model did not record the guide with its tool")
    return uses[0].input


def debrief_draft(*, guide_id: int) -> DraftAttempt:
    """Claim a queued guide, ask the model once, and store the verified guide (or why there is none)."""
    claimed = DebriefGuide.objects.filter(pk=guide_id, status__in=[DebriefGuide.QUEUED, DebriefGuide.RETRYING]).update(
        status=DebriefGuide.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1, error=""
    )
    if not claimed:
        return DraftAttempt()  # a duplicate message, or asked for again since
    guide = DebriefGuide.objects.select_related("submission__invitation__assessment__exercise", "run").get(pk=guide_id)
    # A draft asked for again while this one ran (it looked stuck) wins: this one writes nothing.
    mine = DebriefGuide.objects.filter(pk=guide_id, status=DebriefGuide.RUNNING, requested_at=guide.requested_at)
    prompt = ""
    try:
        material = debrief_material(submission=guide.submission, run=guide.run)
        user_turn = build_user_turn(material)
        prompt = f"[system]\n{SYSTEM_PROMPT}\n\n[user]\n{user_turn}"
        message = _ask(user_turn)
        usage = {"input_tokens": message.usage.input_tokens, "output_tokens": message.usage.output_tokens}
        kept, dropped = verify_questions(parse_guide(_tool_input(message)), material)
    except _Transient as exc:
        if guide.attempts < settings.DEBRIEF_MAX_ATTEMPTS:
            countdown = settings.DEBRIEF_RETRY_BASE_S * 2 ** (guide.attempts - 1)
            of = f"attempt {guide.attempts + 1} of {settings.DEBRIEF_MAX_ATTEMPTS}"
            reason = f"{exc}; trying again in {countdown} s ({of})"
            mine.update(status=DebriefGuide.RETRYING, error=reason[:500], prompt=prompt)
            return DraftAttempt(retry=True, countdown=countdown)
        mine.update(status=DebriefGuide.FAILED, error=f"{exc} ({guide.attempts} attempts)."[:500], prompt=prompt)
        return DraftAttempt()
    except MalformedGuide as exc:
        error = f"The model's answer was not a usable guide: {exc}."
        mine.update(status=DebriefGuide.FAILED, error=error[:500], prompt=prompt)
        return DraftAttempt()
    except (OSError, ArchiveRejected) as exc:
        mine.update(status=DebriefGuide.FAILED, error=f"The upload could not be read: {exc}"[:500])
        return DraftAttempt()
    except Exception:
        log.exception("Drafting debrief guide %s failed", guide_id)
        mine.update(status=DebriefGuide.FAILED, error="Drafting failed on our side; the error is in the worker's log.")
        return DraftAttempt()
    fields = {"prompt": prompt, "model": message.model, "finished_at": timezone.now(), "dropped": dropped, **usage}
    if not kept:
        error = "None of the model's questions checked out against the upload."
        fields |= {"status": DebriefGuide.FAILED, "error": error}
    else:
        fields |= {"status": DebriefGuide.DONE, "questions": kept}
    mine.update(**fields)
    return DraftAttempt()
