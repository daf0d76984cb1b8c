"""Similarity triage: which other code a submission's code is much like, for a person to look at.

The advice of the similarity tools' own authors (MOSS, JPlag, Dolos) is that a high score is a
reason to look, never a verdict: a shared tutorial, a pair who studied together or a candidate
invited twice score high too. So the pages say "worth a look", show the lines beside each other,
and judge nothing.

When a submission is graded (``compare_submission`` task, sent on commit by workflows.grading):
its Python code is fingerprinted once (candidates.winnowing), less the starter kit's fingerprints,
and stored; then compared with every stored fingerprint of the same exercise within the same
owner's assessments (other candidates' uploads and the known public solutions a manager uploaded)
and with the exercise's reference solution. The best matches are stored with their shared
fragments, on both sides, so no page recomputes anything.

Scope: one owner's assessments only, as for identical uploads (reports.selectors.identical): a
manager must not learn of another team's candidates, even through a score.
"""

import functools
import hashlib
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction

from assessments.models import Assessment, Exercise
from assessments.packages import PackageUnavailable, exercise_dir
from candidates.models import ArchiveUnavailable, CodeFingerprint, KnownSolution, SimilarityMatch, Submission
from candidates.winnowing import MAX_FILE_BYTES, Fingerprints, fingerprint, fragments, similarity, unpack_hashes
from core.audit import audit_record
from grader.starterkit import kit_files
from grader.unpack import ArchiveLimits, ArchiveRejected, unpack_archive

log = logging.getLogger(__name__)

# At or above this score a match is shown as worth a look. On the test set (tests/reports/
# test_similarity.py) renamed-and-reordered copies score above 0.9 and independent solutions below
# 0.05; real honest solutions share more idiom than generated ones, hence the wide margin.
THRESHOLD = 0.30
# How many matches a submission keeps (the best ones, whatever their score): enough to rank.
KEEP = 5


# --- Reading code -----------------------------------------------------------------------------------


def python_files(archive: bytes, limits: ArchiveLimits) -> dict[str, str]:
    """Path -> source of every ``.py`` in ``archive``, unpacked by the hardened unpacker (the
    archive is hostile: a manager's upload as much as a candidate's). Raises ArchiveRejected."""
    with tempfile.TemporaryDirectory(prefix="similarity-") as scratch:
        root = Path(scratch) / "archive"
        manifest = unpack_archive(archive, root, limits)
        return _read_python(root, manifest.files)


def _read_python(root: Path, names: Iterable[str]) -> dict[str, str]:
    files = {}
    for name in names:
        path = root / name
        if name.endswith(".py") and path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
            files[name] = path.read_bytes().decode("utf-8", errors="replace")
    return files


def _folder_python(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    names = [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*.py")) if "__pycache__" not in p.parts]
    return _read_python(folder, names)


@dataclass(frozen=True)
class ExercisePrints:
    """What an exercise version contributes: its starter kit (to ignore) and its reference (to compare with)."""

    kit_hashes: frozenset[int] = frozenset()
    kit_files: frozenset[str] = frozenset()  # sha256 of each kit .py: an unchanged one is skipped unread
    reference: Fingerprints | None = None

    def candidate_code(self, files: dict[str, str]) -> Fingerprints:
        """The fingerprints of ``files`` that are the candidate's: not the kit's."""
        own = {path: text for path, text in files.items() if _digest(text) not in self.kit_files}
        return fingerprint(own).without(self.kit_hashes)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


@functools.lru_cache(maxsize=16)
def _exercise_prints(checksum: str, folder: str) -> ExercisePrints:
    """Cached by checksum: the same checksum is the same files."""
    root = Path(folder)
    try:
        kit = {name: data.decode("utf-8", errors="replace") for name, data in kit_files(root).items()}
    except FileNotFoundError:  # a package without a starter folder
        kit = {}
    kit = {name: text for name, text in kit.items() if name.endswith(".py")}
    kit_hashes = fingerprint(kit).hashes
    reference = _folder_python(root / "reference")
    return ExercisePrints(
        kit_hashes=kit_hashes,
        kit_files=frozenset(_digest(text) for text in kit.values()),
        reference=fingerprint(reference).without(kit_hashes) if reference else None,
    )


def exercise_prints(exercise: Exercise) -> ExercisePrints:
    try:
        folder = exercise_dir(exercise)
    except PackageUnavailable as exc:
        log.warning("similarity: %s; comparing without the starter kit and the reference", exc)
        return ExercisePrints()
    return _exercise_prints(exercise.checksum, str(folder))


def reference_files(exercise: Exercise) -> dict[str, str]:
    try:
        return _folder_python(exercise_dir(exercise) / "reference")
    except PackageUnavailable:
        return {}


# --- Computing --------------------------------------------------------------------------------------


def submission_fingerprint(*, submission: Submission) -> CodeFingerprint | None:
    """Fingerprint ``submission``'s code (once: an existing row is returned); None if its archive is gone."""
    existing = CodeFingerprint.objects.filter(submission=submission).first()
    if existing is not None:
        return existing
    assessment = submission.invitation.assessment
    try:
        files = python_files(submission.archive_bytes(), ArchiveLimits.from_exercise(assessment.exercise.limits))
    except (ArchiveUnavailable, ArchiveRejected) as exc:
        log.warning("similarity: submission %s not fingerprinted: %s", submission.pk, exc)
        return None
    prints = exercise_prints(assessment.exercise).candidate_code(files)
    row, _ = CodeFingerprint.objects.get_or_create(
        submission=submission,
        defaults=_fingerprint_fields(prints, assessment),
    )
    return row


def _fingerprint_fields(prints: Fingerprints, assessment: Assessment) -> dict:
    return {
        "owner_id": assessment.owner_id,
        "exercise_slug": assessment.exercise.slug,
        "hashes": prints.packed(),
        "locations": prints.locations(),
        "count": len(prints.spans),
    }


@dataclass
class _Candidate:
    """One stored fingerprint scored against ours in the fast pass."""

    score: float
    shared: int
    fingerprint_id: int
    submission_id: int | None
    known_solution_id: int | None


@dataclass
class Comparison:
    """What comparing one submission found: its best matches, best first."""

    matches: list[SimilarityMatch] = field(default_factory=list)
    compared: int = 0


def submission_similarity_compute(*, submission_id: int) -> Comparison:
    """Fingerprint the submission, compare it with everything in its scope, store its best matches
    (and, on the other side, each match at or above THRESHOLD). Safe to run twice."""
    submission = Submission.objects.select_related("invitation__assessment__exercise").get(pk=submission_id)
    mine = submission_fingerprint(submission=submission)
    if mine is None:
        return Comparison()
    ours = unpack_hashes(bytes(mine.hashes))
    best, compared = _best_stored(mine, ours, candidate_id=submission.invitation.candidate_id)
    reference = exercise_prints(submission.invitation.assessment.exercise).reference
    our_prints = Fingerprints.from_locations(mine.locations)
    rows: list[SimilarityMatch] = []
    if reference is not None:
        score, shared = similarity(ours, reference.hashes)
        if shared:
            rows.append(
                SimilarityMatch(
                    submission=submission,
                    kind=SimilarityMatch.REFERENCE,
                    score=score,
                    shared=shared,
                    fragments=[f.as_dict() for f in fragments(our_prints, reference)],
                )
            )
    theirs_by_id = {
        fp.pk: fp for fp in CodeFingerprint.objects.filter(pk__in=[c.fingerprint_id for c in best]).only("locations")
    }
    reverse: list[SimilarityMatch] = []
    for c in best:
        found = fragments(our_prints, Fingerprints.from_locations(theirs_by_id[c.fingerprint_id].locations))
        kind = SimilarityMatch.SUBMISSION if c.submission_id else SimilarityMatch.KNOWN
        rows.append(
            SimilarityMatch(
                submission=submission,
                kind=kind,
                other_submission_id=c.submission_id,
                known_solution_id=c.known_solution_id,
                score=c.score,
                shared=c.shared,
                fragments=[f.as_dict() for f in found],
            )
        )
        if c.submission_id and c.score >= THRESHOLD:
            reverse.append(
                SimilarityMatch(
                    submission_id=c.submission_id,
                    kind=SimilarityMatch.SUBMISSION,
                    other_submission=submission,
                    score=c.score,
                    shared=c.shared,
                    fragments=[f.swapped().as_dict() for f in found],
                )
            )
    rows.sort(key=lambda r: -r.score)
    rows = rows[:KEEP]
    with transaction.atomic():
        SimilarityMatch.objects.filter(submission=submission).delete()
        SimilarityMatch.objects.bulk_create(rows)
        for row in reverse:
            SimilarityMatch.objects.filter(
                submission_id=row.submission_id, kind=SimilarityMatch.SUBMISSION, other_submission=submission
            ).delete()
        SimilarityMatch.objects.bulk_create(reverse)
    return Comparison(matches=rows, compared=compared)


def _best_stored(mine: CodeFingerprint, ours: frozenset[int], *, candidate_id: int) -> tuple[list[_Candidate], int]:
    """The fast pass: score every stored fingerprint in scope from its packed hashes alone, keep the
    best per other candidate (their best upload) and per known solution. Returns (best, how many)."""
    scope = (
        CodeFingerprint.objects.filter(owner_id=mine.owner_id, exercise_slug=mine.exercise_slug)
        .exclude(pk=mine.pk)
        .exclude(submission__invitation__candidate_id=candidate_id)
        .values_list("pk", "submission_id", "submission__invitation__candidate_id", "known_solution_id", "hashes")
    )
    by_source: dict[tuple[str, int], _Candidate] = {}
    compared = 0
    for pk, submission_id, other_candidate, known_id, packed in scope.iterator(chunk_size=500):
        compared += 1
        score, shared = similarity(ours, unpack_hashes(bytes(packed)))
        if not shared:
            continue
        key = ("candidate", other_candidate) if submission_id else ("known", known_id)
        if key not in by_source or score > by_source[key].score:
            by_source[key] = _Candidate(score, shared, pk, submission_id, known_id)
    return sorted(by_source.values(), key=lambda c: -c.score)[:KEEP], compared


def known_solution_add(*, assessment: Assessment, label: str, archive: bytes, actor: User) -> KnownSolution:
    """Keep a public solution of ``assessment``'s exercise and compare every stored submission of the
    owner's with it. Raises ArchiveRejected (the manager's zip is as hostile as a candidate's)."""
    limits = ArchiveLimits.from_exercise(assessment.exercise.limits)
    if len(archive) > limits.max_compressed_bytes:
        raise ArchiveRejected(f"The zip is over the limit of {limits.max_compressed_bytes // 1_000_000} MB.")
    files = python_files(archive, limits)
    if not files:
        raise ArchiveRejected("The zip holds no Python file to compare with.")
    prints = exercise_prints(assessment.exercise).candidate_code(files)
    sha = hashlib.sha256(archive).hexdigest()
    with transaction.atomic():
        known, created = KnownSolution.objects.get_or_create(
            assessment=assessment, sha256=sha, defaults={"label": label, "data": archive, "uploaded_by": actor}
        )
        if not created:
            return known
        fp = CodeFingerprint.objects.create(known_solution=known, **_fingerprint_fields(prints, assessment))
        audit_record(actor=actor, action="similarity.known_solution_added", target=assessment, data={"label": label})
        scope = CodeFingerprint.objects.filter(
            owner_id=fp.owner_id, exercise_slug=fp.exercise_slug, submission__isnull=False
        ).values_list("submission_id", "hashes", "locations")
        ours = prints.hashes
        rows = []
        for submission_id, packed, locations in scope.iterator(chunk_size=200):
            score, shared = similarity(ours, unpack_hashes(bytes(packed)))
            if score >= THRESHOLD:
                found = fragments(Fingerprints.from_locations(locations), prints)
                rows.append(
                    SimilarityMatch(
                        submission_id=submission_id,
                        kind=SimilarityMatch.KNOWN,
                        known_solution=known,
                        score=score,
                        shared=shared,
                        fragments=[f.as_dict() for f in found],
                    )
                )
        SimilarityMatch.objects.bulk_create(rows)
    return known


def known_solution_files(known: KnownSolution, exercise: Exercise) -> dict[str, str]:
    try:
        return python_files(bytes(known.data), ArchiveLimits.from_exercise(exercise.limits))
    except ArchiveRejected:  # accepted once under these limits; a changed limit shows less, never fails
        return {}


# --- Reading, for the review page and the scorecard ---------------------------------------------------

SHOWN_MATCHES = 3
SHOWN_FRAGMENTS = 3
SHOWN_LINES = 40


@dataclass
class FragmentView:
    file: str
    start: int
    end: int
    lines: list[tuple[int, str]]
    other_file: str
    other_start: int
    other_end: int
    other_lines: list[tuple[int, str]]

    @property
    def cut(self) -> bool:
        """Longer than a page shows: the first SHOWN_LINES lines of each side only."""
        return max(self.end - self.start, self.other_end - self.other_start) >= SHOWN_LINES


@dataclass
class MatchView:
    """One match as a page shows it: who (a name for managers, a pseudonym for blind review), how
    much, and the shared lines on both sides."""

    kind: str
    percent: int
    shared: int
    other_label: str
    other_invitation_id: int | None = None
    other_assessment_id: int | None = None
    other_number: int | None = None
    identical: bool = False
    fragments: list[FragmentView] = field(default_factory=list)
    code_missing: bool = False


def similarity_matches(*, submission: Submission, blind: bool) -> list[MatchView]:
    """The matches of ``submission`` at or above THRESHOLD, best first, with their code beside each other.

    ``blind``: the other candidate is named by their pseudonym only (a reviewer's page).
    """
    rows = list(
        submission.similarity_matches.filter(score__gte=THRESHOLD)
        .select_related(
            "other_submission__invitation__candidate",
            "other_submission__invitation__assessment",
            "known_solution",
        )
        .order_by("-score", "pk")[:SHOWN_MATCHES]
    )
    if not rows:
        return []
    exercise = submission.invitation.assessment.exercise
    limits = ArchiveLimits.from_exercise(exercise.limits)
    ours = _files_or_none(submission, limits)
    views = []
    for row in rows:
        view = MatchView(kind=row.kind, percent=round(row.score * 100), shared=row.shared, other_label="")
        theirs: dict[str, str] | None
        if row.kind == SimilarityMatch.SUBMISSION and row.other_submission is not None:
            other = row.other_submission
            invitation = other.invitation
            view.other_label = f"Candidate {invitation.pseudonym}" if blind else invitation.candidate.name
            view.other_invitation_id = invitation.pk
            view.other_assessment_id = invitation.assessment_id
            view.other_number = other.number
            view.identical = other.sha256 == submission.sha256
            theirs = None if view.identical else _files_or_none(other, limits)
        elif row.kind == SimilarityMatch.REFERENCE:
            view.other_label = "the exercise's reference solution"
            theirs = reference_files(exercise)
        else:
            assert row.known_solution is not None
            view.other_label = f"the known solution “{row.known_solution.label}”"
            theirs = known_solution_files(row.known_solution, exercise)
        if not view.identical:
            view.code_missing = ours is None or theirs is None
            view.fragments = [_fragment_view(f, ours or {}, theirs or {}) for f in row.fragments[:SHOWN_FRAGMENTS]]
        views.append(view)
    return views


def _files_or_none(submission: Submission, limits: ArchiveLimits) -> dict[str, str] | None:
    try:
        return python_files(submission.archive_bytes(), limits)
    except (ArchiveUnavailable, ArchiveRejected):
        return None


def _lines(files: dict[str, str], path: str, start: int, end: int) -> list[tuple[int, str]]:
    text = files.get(path)
    if text is None:
        return []
    lines = text.splitlines()
    end = min(end, start + SHOWN_LINES - 1)
    return [(n, lines[n - 1]) for n in range(start, end + 1) if 0 < n <= len(lines)]


def _fragment_view(f: dict, ours: dict[str, str], theirs: dict[str, str]) -> FragmentView:
    return FragmentView(
        file=f["file"],
        start=f["start"],
        end=f["end"],
        lines=_lines(ours, f["file"], f["start"], f["end"]),
        other_file=f["other_file"],
        other_start=f["other_start"],
        other_end=f["other_end"],
        other_lines=_lines(theirs, f["other_file"], f["other_start"], f["other_end"]),
    )
