import pytest
from django.urls import reverse

from rubrics.models import CriterionScore, Disagreement, Review
from rubrics.selectors import takeaways_problem
from rubrics.services import ReviewIncomplete, review_assign, review_score_save, review_submit
from tests.builders import add_results, graded_submission, review_verdict
from tests.rubrics.factories import EVERY_KIND

NAME, EMAIL = b"Dana Candidate", b"dana@example.com"


@pytest.fixture
def submission(assessment):
    return graded_submission(assessment)


@pytest.fixture
def review(submission, reviewer):
    return review_assign(submission=submission, reviewer=reviewer)


def _score_all(review, level=2):
    for criterion in review.submission.invitation.assessment.rubric.criteria.all():
        review_score_save(review=review, criterion=criterion, level=level, note=f"Level {level} because.")
    review_verdict(review)


def _blind(content: bytes) -> bool:
    return NAME not in content and EMAIL not in content and b"Dana" not in content


def test_it_hides_the_candidate_from_every_reviewer_page_and_fragment(client, reviewer, review):
    client.force_login(reviewer)
    criterion = review.submission.invitation.assessment.rubric.criteria.first()
    responses = [
        client.get(reverse("rubrics:queue")),
        client.get(reverse("rubrics:queue"), headers={"HX-Request": "true"}),
        client.get(reverse("rubrics:review", args=[review.pk])),
        client.get(
            reverse("rubrics:review", args=[review.pk]) + "?file=NOTES.md",
            headers={"HX-Request": "true", "HX-Target": "code-file"},
        ),
        client.post(
            reverse("rubrics:score", args=[review.pk, criterion.pk]),
            {f"c{criterion.pk}-level": "1", f"c{criterion.pk}-note": "ok"},
            headers={"HX-Request": "true"},
        ),
    ]
    for response in responses:
        assert response.status_code == 200
        assert _blind(response.content)
    page = responses[2].content.decode()
    assert f"Candidate {review.submission.invitation.pseudonym}" in page


def _with_code_and_diff(client, url: str) -> str:
    """The page as a reviewer reads it once the code pane and the diff have loaded (htmx fetches them)."""
    page = client.get(url).content.decode()
    parts = [client.get(url, {"part": part}, headers={"HX-Request": "true"}) for part in ("code", "diff")]
    return page + "".join(part.content.decode() for part in parts)


def test_it_shows_evidence_notes_code_and_diff_escaped(client, reviewer, review):
    client.force_login(reviewer)
    html = _with_code_and_diff(client, reverse("rubrics:review", args=[review.pk]))
    assert "Probe evidence" in html and "Every 4 hours." in html and "How often are bank feeds checked?" in html
    assert '<svg class="timeline"' in html and 'class="tl-bar tl-throttled"' in html and 'class="tl-gap"' in html
    assert "tl-stall" in html
    assert "<strong>retry</strong>" in html  # NOTES.md rendered
    assert "<script>" not in html.split("</header>", 1)[1].replace("<script src=", "")  # nothing executable
    assert "&lt;script&gt;alert(1)" in html or "&lt;/script&gt;" in html  # the code, escaped by Pygments
    assert 'class="hl"' in html and "echo/__init__.py" in html
    assert "Diff against the starter kit" in html and "submission/echo/__init__.py" in html


def test_the_first_load_leaves_the_code_the_diff_and_the_passes_traffic_to_fetch_when_opened(client, reviewer, review):
    add_results(review.submission.grading_runs.get(), [("grounding", "pass")])
    client.force_login(reviewer)
    url = reverse("rubrics:review", args=[review.pk])

    html = client.get(url).content.decode()

    assert 'class="hl"' not in html and "submission/echo/__init__.py" not in html  # no code, no diff
    assert 'hx-get="?part=code" hx-trigger="intersect once"' in html and 'href="?part=code#code"' in html
    assert 'hx-get="?part=diff" hx-trigger="intersect once"' in html and 'href="?part=diff#diff"' in html
    assert html.count('<svg class="timeline"') == 1  # the failure's; the passes fold to one line
    passing = html.split('<details class="probe probe-pass"')[1].split("</details>")[0]
    assert 'hx-trigger="toggle once"' in passing and " open" not in passing.split(">", 1)[0]
    probe_id = passing.split("<code>", 1)[1].split("</code>", 1)[0]
    # Without JavaScript, each link asks for the page with that part drawn in.
    assert 'class="hl"' in client.get(url, {"part": "code"}).content.decode()
    assert "submission/echo/__init__.py" in client.get(url, {"part": "diff"}).content.decode()
    opened = client.get(url, {"probe": probe_id}).content.decode()
    assert opened.count('<svg class="timeline"') == 2
    # With it, htmx fetches the pass's traffic and its request table, fragments only, and blind.
    traffic = client.get(url, {"probe": probe_id}, headers={"HX-Request": "true"})
    table = client.get(url, {"probe": probe_id, "requests": "1"}, headers={"HX-Request": "true"})
    for fragment in (traffic, table):
        assert fragment.status_code == 200 and b"<html" not in fragment.content and _blind(fragment.content)
    assert b'<svg class="timeline"' in traffic.content and b"<tbody><tr>" in table.content
    assert client.get(url, {"probe": "nope"}, headers={"HX-Request": "true"}).status_code == 404


def test_an_outsider_cannot_fetch_a_reviews_parts(client, reviewer2, review):
    client.force_login(reviewer2)
    url = reverse("rubrics:review", args=[review.pk])
    for params in ({"part": "code"}, {"part": "diff"}, {"probe": "grounding-0"}):
        assert client.get(url, params, headers={"HX-Request": "true"}).status_code == 404


def test_it_suggests_a_level_from_the_pass_rate(client, reviewer, review):
    add_results(review.submission.grading_runs.get(), [("grounding", "pass"), ("grounding", "error")])
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    # 2 of 3 counted passes (67 %) -> level 1; the error is not counted. The criterion covers grounding,
    # which the exercise titles "Grounding".
    assert (
        'Suggestion from the probes (<a href="#mode-grounding" class="mode-link">Grounding</a>):'
        " <strong>level 1</strong>"
        " (2 of 3 passed; 1 infrastructure error not counted)" in html
    )
    assert "Infrastructure error, not counted" in html


def test_it_autosaves_one_criterion_with_htmx(client, reviewer, review):
    client.force_login(reviewer)
    criterion = review.submission.invitation.assessment.rubric.criteria.first()
    response = client.post(
        reverse("rubrics:score", args=[review.pk, criterion.pk]),
        {f"c{criterion.pk}-level": "2", f"c{criterion.pk}-note": "Checks citations."},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and b"<html" not in response.content and b"Saved" in response.content
    score = CriterionScore.objects.get(review=review, criterion=criterion)
    assert (score.level, score.note) == (2, "Checks citations.")
    review.refresh_from_db()
    assert review.state == Review.IN_PROGRESS
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert 'value="2" checked' in html and "Checks citations." in html


def test_it_saves_all_scores_without_javascript(client, reviewer, review):
    client.force_login(reviewer)
    criteria = list(review.submission.invitation.assessment.rubric.criteria.all())
    data = {}
    for c in criteria:
        data[f"c{c.pk}-level"], data[f"c{c.pk}-note"] = "3", "Solid."
    response = client.post(reverse("rubrics:scores", args=[review.pk]), data)
    assert response.status_code == 302 and response["Location"] == reverse("rubrics:review", args=[review.pk])
    assert CriterionScore.objects.filter(review=review, level=3).count() == len(criteria)


def test_it_refuses_to_submit_without_notes_and_locks_on_submit(client, reviewer, review):
    client.force_login(reviewer)
    criterion = review.submission.invitation.assessment.rubric.criteria.first()
    review_score_save(review=review, criterion=criterion, level=1, note="")
    response = client.post(reverse("rubrics:submit", args=[review.pk]), follow=True)
    assert b"Not submitted" in response.content
    _score_all(review)
    client.post(reverse("rubrics:submit", args=[review.pk]))
    review.refresh_from_db()
    assert review.state == Review.SUBMITTED
    response = client.post(
        reverse("rubrics:score", args=[review.pk, criterion.pk]),
        {f"c{criterion.pk}-level": "0", f"c{criterion.pk}-note": "changed"},
        headers={"HX-Request": "true"},
    )
    assert b"locked" in response.content
    assert CriterionScore.objects.get(review=review, criterion=criterion).level == 2


def test_it_shows_other_scores_only_after_submit_and_flags_disagreement(client, reviewer, reviewer2, manager, review):
    other = review_assign(submission=review.submission, reviewer=reviewer2)
    _score_all(other, level=0)
    other.scores.update(note="carol-secret-note")
    review_verdict(other)
    review_submit(review=other)
    client.force_login(reviewer)
    assert b"carol-secret-note" not in client.get(reverse("rubrics:review", args=[review.pk])).content
    _score_all(review, level=3)
    review_verdict(review)
    review_submit(review=review)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert "carol-secret-note" in html and "Flagged: reviewers chose levels 0 to 3" in html
    assert Disagreement.objects.filter(submission=review.submission).count() == 2
    client.force_login(manager)
    html = client.get(reverse("rubrics:disagreements")).content.decode()
    assert "levels 0 to 3" in html and f"Candidate {review.submission.invitation.pseudonym}" in html


def test_it_gives_404_for_a_review_assigned_to_someone_else(client, reviewer2, outsider, other_manager, review):
    criterion = review.submission.invitation.assessment.rubric.criteria.first()
    urls = [
        ("get", reverse("rubrics:review", args=[review.pk])),
        ("post", reverse("rubrics:score", args=[review.pk, criterion.pk])),
        ("post", reverse("rubrics:scores", args=[review.pk])),
        ("post", reverse("rubrics:submit", args=[review.pk])),
        ("get", reverse("rubrics:review_file", args=[review.pk]) + "?path=echo/__init__.py"),
    ]
    from django.contrib.auth.models import Group

    from core.roles import REVIEWERS

    other_manager.groups.add(Group.objects.get(name=REVIEWERS))
    for user in (reviewer2, other_manager):
        client.force_login(user)
        for method, url in urls:
            assert getattr(client, method)(url).status_code == 404, (user, url)
    client.force_login(outsider)
    assert client.get(reverse("rubrics:review", args=[review.pk])).status_code == 403
    client.logout()
    assert client.get(reverse("rubrics:review", args=[review.pk])).status_code == 302


def test_the_owning_manager_reads_a_review_but_cannot_score_it(client, manager, review):
    client.force_login(manager)
    response = client.get(reverse("rubrics:review", args=[review.pk]))
    assert response.status_code == 200 and b"Submit review" not in response.content
    criterion = review.submission.invitation.assessment.rubric.criteria.first()
    assert client.post(reverse("rubrics:score", args=[review.pk, criterion.pk])).status_code == 403


def test_the_queue_lists_my_reviews_oldest_first_with_counts_and_filters(client, reviewer, assessment):
    first = review_assign(submission=graded_submission(assessment), reviewer=reviewer)
    second = review_assign(
        submission=graded_submission(assessment, name="Sam Candidate", email="sam@example.com"), reviewer=reviewer
    )
    _score_all(second)
    review_verdict(second)
    review_submit(review=second)
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:queue")).content.decode()
    assert html.index(f"Candidate {first.submission.invitation.pseudonym}") < html.index(
        f"Candidate {second.submission.invitation.pseudonym}"
    )
    done = client.get(reverse("rubrics:queue"), {"state": "submitted"}).content.decode()
    assert second.submission.invitation.pseudonym in done and first.submission.invitation.pseudonym not in done
    assert "<dt>Done</dt><dd>1</dd>" in html and "<dt>To do</dt><dd>1</dd>" in html


@pytest.mark.parametrize("size", [3, 30])
def test_the_review_page_runs_a_constant_number_of_queries(
    client, reviewer, reviewer2, assessment, size, django_assert_max_num_queries
):
    submission = graded_submission(
        assessment, results=[("grounding", "pass" if i % 2 else "fail") for i in range(size)]
    )
    review = review_assign(submission=submission, reviewer=reviewer)
    other = review_assign(submission=submission, reviewer=reviewer2)
    _score_all(other, 0)
    review_verdict(other)
    review_submit(review=other)
    _score_all(review, 3)
    review_verdict(review)
    review_submit(review=review)
    client.force_login(reviewer)
    # Thirteen for the page (the other reviewers' recommendations among them), one for the upload's
    # bytes (kept in the database), and one more the first time this host reads the exercise
    # version's files (its cache may be warm from an earlier test).
    with django_assert_max_num_queries(15):
        assert client.get(reverse("rubrics:review", args=[review.pk])).status_code == 200


@pytest.mark.parametrize("size", [3, 30])
def test_the_queue_runs_a_constant_number_of_queries(client, reviewer, assessment, size, django_assert_max_num_queries):
    submission = graded_submission(assessment)
    # Many reviews for one reviewer: the same submission cannot be reviewed twice, so use many submissions.
    review_assign(submission=submission, reviewer=reviewer)
    for i in range(size - 1):
        sub = graded_submission(assessment, name=f"C {i}", email=f"c{i}@example.com", results=[])
        review_assign(submission=sub, reviewer=reviewer)
    client.force_login(reviewer)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("rubrics:queue"))
    assert response.content.count(b'class="row-title"') == size


def test_the_code_pane_lists_every_graded_file_with_its_size_and_what_it_cannot_show(client, reviewer, assessment):
    review = review_assign(submission=graded_submission(assessment, files=EVERY_KIND, checked=False), reviewer=reviewer)
    client.force_login(reviewer)
    url = reverse("rubrics:review", args=[review.pk])

    response = client.get(url, {"part": "code"}, headers={"HX-Request": "true"})

    assert _blind(response.content)
    code = response.content.decode()
    assert "<html" not in code
    for path, note in [
        ("pkg/__init__.py", '<span class="file-size">61 bytes</span>'),
        (".venv/lib/x.py", '<span class="file-size">42 bytes</span>'),
        ("assets/logo.bin", "binary, 12 KB, not shown"),
        ("data/big.txt", "300 KB, over the 200 KB the viewer shows: download it to read it"),
        ("data/latin1.txt", "not UTF-8 text, 4 bytes, not shown"),
    ]:
        assert f">{path}</a> " in code and note in code, path
    assert '<summary><code>.venv/</code> <span class="muted">2 files, 1 Python, 53 bytes</span></summary>' in code
    assert "Not run and not shown" in code
    assert 'Compiled Python: we run your source files <span class="muted">(1 file, 48 bytes)</span>' in code
    assert '<li>pkg/__pycache__/__init__.cpython-312.pyc <span class="file-size">48 bytes</span></li>' in code
    venv = client.get(url + "?file=.venv/lib/x.py", headers={"HX-Request": "true", "HX-Target": "code-file"})
    assert b"<html" not in venv.content and b"from the venv" in venv.content
    git = client.get(url + "?file=.git/logs/HEAD", headers={"HX-Request": "true", "HX-Target": "code-file"})
    assert _blind(git.content) and ">.git/logs/HEAD</a>" not in code
    assert '<li>.git/ <span class="file-size">75 bytes</span></li>' in code


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("pkg/" + "a" * 300 + ".py", "the file name is 303 bytes long"),
        ("pkg/invoice\u202egnp.py", r"&#x27;pkg/invoice\u202egnp.py&#x27; has an invisible or control character"),
    ],
)
def test_an_archive_stored_before_a_name_rule_is_refused_on_the_page_not_a_crash(
    client, reviewer, assessment, name, shown
):
    # Stored without the upload's checks, as an archive accepted before the rule existed would be.
    files = {"pkg/__init__.py": "x = 1\n", name: "print('hi')\n"}
    review = review_assign(submission=graded_submission(assessment, files=files, checked=False), reviewer=reviewer)
    client.force_login(reviewer)

    page = client.get(reverse("rubrics:review", args=[review.pk]), {"part": "code"})
    download = client.get(reverse("rubrics:review_file", args=[review.pk]), {"path": name})

    html = page.content.decode()
    assert page.status_code == 200 and "The archive cannot be shown" in html and shown in html
    assert "\u202e" not in html
    assert download.status_code == 404


def test_a_reviewer_downloads_a_file_the_pane_cannot_show_but_never_gits_own(client, reviewer, assessment):
    review = review_assign(submission=graded_submission(assessment, files=EVERY_KIND, checked=False), reviewer=reviewer)
    client.force_login(reviewer)
    download = reverse("rubrics:review_file", args=[review.pk])

    big = client.get(download, {"path": "data/big.txt"})

    assert big.status_code == 200 and big.content == b"a" * (300 * 1024)
    assert big["Content-Disposition"] == 'attachment; filename="big.txt"'
    assert big["Content-Type"] == "application/octet-stream"
    assert client.get(download, {"path": ".git/logs/HEAD"}).status_code == 404
    assert client.get(download, {"path": "pkg/__pycache__/__init__.cpython-312.pyc"}).status_code == 404
    assert client.get(download, {"path": "../../etc/passwd"}).status_code == 404


def test_a_refused_submit_lists_every_missing_level_and_note_on_its_criterion(client, reviewer, review):
    grounding, notes = review.submission.invitation.assessment.rubric.criteria.all()
    review_score_save(review=review, criterion=grounding, level=None, note="Checks citations.")
    client.force_login(reviewer)

    response = client.post(reverse("rubrics:submit", args=[review.pk]))

    page = reverse("rubrics:review", args=[review.pk])
    assert response.status_code == 302 and response["Location"] == page + "?incomplete=1#submit-problems"
    html = client.get(response["Location"]).content.decode()
    summary = html.split('id="submit-problems"', 1)[1].split("</div>", 1)[0]
    assert f'<a href="#criterion-{grounding.pk}">Grounding</a>: choose a level</li>' in summary
    assert f'<a href="#criterion-{notes.pk}">Failure-mode notes</a>: choose a level and write a note</li>' in summary
    first = html.split(f'id="criterion-{grounding.pk}"', 1)[1].split("</fieldset>", 1)[0]
    second = html.split(f'id="criterion-{notes.pk}"', 1)[1].split("</fieldset>", 1)[0]
    assert 'aria-invalid="true" aria-describedby="level-error-' in first and "Write a note" not in first
    assert first.count('aria-invalid="true"') == 1 and second.count('aria-invalid="true"') == 2
    review.refresh_from_db()
    assert review.state == Review.IN_PROGRESS
    # Without the refused submit behind it, the same page marks nothing.
    assert 'aria-invalid="true"' not in client.get(page).content.decode()


def test_the_submit_button_asks_before_it_locks(client, reviewer, review):
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert 'data-confirm="Submit for good? You cannot change the scores afterwards."' in html


def test_a_submitted_review_leads_to_the_next_open_one_or_says_the_queue_is_empty(
    client, reviewer, reviewer2, assessment, review
):
    later = review_assign(
        submission=graded_submission(assessment, name="Sam Candidate", email="sam@example.com"), reviewer=reviewer
    )
    review_assign(
        submission=graded_submission(assessment, name="Lee Candidate", email="lee@example.com"), reviewer=reviewer2
    )
    _score_all(review)
    client.force_login(reviewer)
    assert b"Next review" not in client.get(reverse("rubrics:review", args=[review.pk])).content

    response = client.post(reverse("rubrics:submit", args=[review.pk]), follow=True)

    html = response.content.decode()
    assert f'href="{reverse("rubrics:review", args=[later.pk])}">Next review</a>' in html
    _score_all(later)
    html = client.post(reverse("rubrics:submit", args=[later.pk]), follow=True).content.decode()
    assert "Your queue is empty" in html and "Next review" not in html


def test_a_submit_without_recommendation_or_two_takeaways_lists_them_with_the_other_gaps(client, reviewer, review):
    grounding, notes = review.submission.invitation.assessment.rubric.criteria.all()
    review_score_save(review=review, criterion=grounding, level=2, note="Checks citations.")
    review_verdict(review, recommendation="", takeaways="Only one point")
    client.force_login(reviewer)

    with pytest.raises(ReviewIncomplete) as refused:
        review_submit(review=review)
    assert [p.missing for p in refused.value.problems] == ["level", "note", "recommendation", "takeaways"]
    assert "Choose a recommendation." in str(refused.value) and "at least 2 takeaways" in str(refused.value)

    response = client.post(reverse("rubrics:submit", args=[review.pk]))
    html = client.get(response["Location"]).content.decode()
    summary = html.split('id="submit-problems"', 1)[1].split("</div>", 1)[0]
    assert "1 criterion and your recommendation need more" in summary
    assert f'<a href="#criterion-{notes.pk}">Failure-mode notes</a>: choose a level and write a note</li>' in summary
    assert '<a href="#verdict">Recommendation</a>: choose strong yes, yes, no or strong no</li>' in summary
    assert '<a href="#takeaways">Takeaways</a>: write at least 2 takeaways, one per line (you have 1)</li>' in summary
    verdict = html.split('id="verdict"', 1)[1].split("</fieldset>", 1)[0]
    assert verdict.count('aria-invalid="true"') == 2


@pytest.mark.parametrize(
    ("takeaways", "problem"),
    [("a\nb\nc\nd", "Keep it to 3 takeaways"), ("a\n" + "x" * 201, "Shorten takeaway 2"), ("a\n\n  b  ", "")],
)
def test_takeaways_are_two_or_three_short_lines(review, takeaways, problem):
    review_verdict(review, takeaways=takeaways)
    assert takeaways_problem(review).startswith(problem)


def test_the_recommendation_autosaves_and_refuses_what_is_not_on_the_scale(client, reviewer, review):
    client.force_login(reviewer)
    url = reverse("rubrics:verdict", args=[review.pk])
    answer = client.post(url, {"recommendation": "strong_yes", "takeaways": "One\nTwo"}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and 'id="verdict-status"' in answer.content.decode()
    review.refresh_from_db()
    assert (review.recommendation, review.takeaway_list, review.state) == ("strong_yes", ["One", "Two"], "in_progress")
    answer = client.post(url, {"recommendation": "maybe", "takeaways": "x"}, headers={"HX-Request": "true"})
    assert "Choose strong yes, yes, no or strong no" in answer.content.decode()
    review.refresh_from_db()
    assert review.recommendation == "strong_yes"


def test_only_the_reviewer_saves_their_recommendation(client, reviewer2, review):
    client.force_login(reviewer2)
    answer = client.post(reverse("rubrics:verdict", args=[review.pk]), {"recommendation": "no"})
    assert answer.status_code == 404


def test_another_reviewers_recommendation_stays_hidden_until_mine_is_submitted(
    client, reviewer, reviewer2, submission, review
):
    other = review_assign(submission=submission, reviewer=reviewer2)
    _score_all(other)
    review_verdict(other, recommendation="strong_no", takeaways="Invents refund policies\nNo retries at all")
    review_submit(review=other)
    client.force_login(reviewer)
    page = reverse("rubrics:review", args=[review.pk])

    before = client.get(page).content.decode()
    assert "Invents refund policies" not in before and "rec-chip" not in before

    _score_all(review)
    review_submit(review=review)
    after = client.get(page).content.decode().split('id="verdict"', 1)[1]
    assert "Invents refund policies" in after and '<span class="rec-chip rec-strong_no">Strong no</span>' in after


def test_the_evidence_code_and_diff_are_tabs_that_work_as_links(client, reviewer, review):
    client.force_login(reviewer)
    url = reverse("rubrics:review", args=[review.pk])

    first = client.get(url).content.decode()
    code = client.get(url, {"part": "code"}).content.decode()

    # The evidence opens; the code and the diff wait, hidden, behind tabs that are plain links.
    assert 'data-tab="evidence" aria-current="page"' in first
    assert '<div class="tab-panel" data-panel="code" hidden>' in first
    assert '<div class="tab-panel" data-panel="diff" hidden>' in first
    assert '<a href="?part=code#code" data-tab="code">Code</a>' in first
    # Followed without JavaScript, the Code tab draws the code and hides the evidence.
    assert 'data-tab="code" aria-current="page"' in code and 'class="file-tree"' in code
    assert '<div class="tab-panel" data-panel="evidence" hidden>' in code
    # The rubric is beside every tab, not inside one.
    assert code.count('id="rubric"') == 1 and code.index('id="rubric"') > code.rindex('data-panel="diff"')
