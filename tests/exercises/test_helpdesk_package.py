"""The helpdesk-answerer package: formats, corpus, answer keys, probes and the hidden responder."""

import json
import random
import tomllib

import pytest

from grader.package import load_package

from .helpdesk import EXERCISE, HIDDEN_DOCS, PREVIOUS, SHARED_CONTRACT, articles, bm25_top, hidden


def norm(text):
    return hidden("responder").norm(text)


def _keys(kinds=("answerable", "escalation")):
    seen = {}
    for probe in hidden().PROBES:
        for key in probe.params["keys"]:
            if key.kind in kinds and key.doc_id:
                seen[key.question] = key
    return list(seen.values())


FAILURE_MODES = ("grounding", "injection", "transient", "output", "input", "load", "cost")


def test_it_declares_the_exercise_in_the_agreed_format():
    package = load_package(EXERCISE)

    assert package.slug == "helpdesk-answerer"
    assert package.contract.entry_point == "helpdesk:answer"
    assert package.contract.call_timeout_s == 20
    assert package.contract.concurrency == 32
    assert package.contract.input["type"] == "string"
    assert package.contract.output["required"] == ["status", "answer", "citations"]
    assert package.time_limit_minutes == 180
    assert package.rubric_slug == "helpdesk-answerer"
    assert package.limits.to_json() == {
        "max_compressed_bytes": 5242880,
        "max_uncompressed_bytes": 52428800,
        "max_files": 500,
        "max_depth": 20,
    }
    assert package.mode_slugs == FAILURE_MODES
    assert all(m.hint and "\n" not in m.hint and m.description for m in package.failure_modes)


def test_its_rubric_has_ten_criteria_with_applicable_anchors():
    rubric = tomllib.loads((EXERCISE / "rubric.toml").read_text())
    criteria = rubric["criteria"]

    assert rubric["slug"] == "helpdesk-answerer"
    assert len(criteria) == 10
    assert len({c["slug"] for c in criteria}) == 10
    for criterion in criteria:
        assert isinstance(criterion["weight"], int) and criterion["weight"] >= 1
        assert len(criterion["anchors"]) == 4 and all(a.strip() for a in criterion["anchors"])
        assert set(criterion["failure_modes"]) <= set(FAILURE_MODES)
    covered = {mode for c in criteria for mode in c["failure_modes"]}
    assert covered == set(FAILURE_MODES)


@pytest.mark.skipif(not SHARED_CONTRACT.exists(), reason="shared/ is not beside the repository")
def test_the_1x_brief_kept_beside_it_holds_the_shared_contract_verbatim():
    """../shared/helpdesk-exercise.md is the 1.x contract; 1.3.0 stays in exercises/previous/ unchanged."""
    contract = SHARED_CONTRACT.read_text()
    section = contract[contract.index("- A submission is a zip") : contract.index("## The starter kit")].strip()
    previous = load_package(PREVIOUS)
    brief = (PREVIOUS / "brief.md").read_text()

    assert previous.slug == "helpdesk-answerer" and previous.version.startswith("1.")
    assert section in brief
    for must in ("3 hours", "NOTES.md", "run_fake.py", "ANTHROPIC_API_KEY", "zip"):
        assert must in brief


def test_the_2_0_brief_states_the_contract_the_package_declares():
    package = load_package(EXERCISE)
    brief = (EXERCISE / "brief.md").read_text()
    contract = brief[brief.index("### The contract") : brief.index("## What is assessed")]
    module, function = package.contract.entry_point.split(":")
    limits = package.limits

    assert package.version.startswith("2.")
    assert f"from {module} import {function}" in contract
    assert f"within {package.contract.call_timeout_s:g} seconds" in " ".join(contract.split())
    assert f"up to {package.contract.concurrency} threads" in " ".join(contract.split())
    flat = " ".join(contract.split())
    assert f"{limits.max_compressed_bytes // 2**20} MB compressed" in flat
    assert f"{limits.max_uncompressed_bytes // 2**20} MB uncompressed" in flat
    assert f"{limits.max_files} files" in flat
    # One row of the status table per status the output schema allows, and every returned key named.
    for status in package.contract.output["properties"]["status"]["enum"]:
        assert f'| `"{status}"` |' in contract, status
    for key in package.contract.output["required"]:
        assert f"`{key}`" in contract, key
    # What the 1.x brief left to guesswork is now said: refusals, other languages, forum-only support,
    # the text of a non-answer, what the zip may hold, and parameters the pinned SDK rejects.
    for said in (
        'stop_reason: "refusal"',
        "not in English",
        "answered only by a community post",
        "a fixed message of your own",
        "`devtools/`",
        "`pytest.ini`",
        "virtual environments",
        "`temperature`",
        "TypeError",
    ):
        assert said in flat, said
    for mode in package.mode_slugs:
        assert f"`{mode}`" in brief, mode


def test_its_committed_hidden_corpus_is_what_the_generator_writes(tmp_path):
    count = hidden("corpus").write_corpus(tmp_path / "docs")
    generated = {p.relative_to(tmp_path / "docs").as_posix(): p.read_text() for p in (tmp_path / "docs").rglob("*.md")}
    committed = {p.relative_to(HIDDEN_DOCS).as_posix(): p.read_text() for p in HIDDEN_DOCS.rglob("*.md")}

    assert count >= 150
    assert generated == committed


def test_stuffing_the_hidden_corpus_busts_the_token_budget_but_fits_the_context_window():
    module = hidden()
    stuffed_tokens = sum(len(text) for text in articles().values()) / 4
    community = [p for p in HIDDEN_DOCS.joinpath("community").glob("*.md")]

    assert stuffed_tokens > 10 * module.TOKEN_BUDGET
    assert stuffed_tokens < 0.75 * 200_000
    assert len(community) >= 10
    assert len(list((EXERCISE / "starter" / "docs").rglob("*.md"))) == 15


def test_every_supporting_sentence_is_in_its_article_and_nowhere_else():
    texts = {doc_id: norm(text) for doc_id, text in articles().items()}

    for key in _keys():
        sentence = norm(key.sentence)
        holders = [doc_id for doc_id, text in texts.items() if sentence in text]
        assert holders == [key.doc_id], key.question
        assert all(f.casefold() in key.answer.casefold() for f in key.facts), key.question


def test_no_article_answers_the_unanswerable_questions():
    corpus = norm(" ".join(articles().values()))
    unanswerable = {k.question: k for p in hidden().PROBES for k in p.params["keys"] if k.kind == "unanswerable"}

    assert len(unanswerable) >= 5
    for key in unanswerable.values():
        assert norm(key.fabrication.quote) not in corpus
    for word in ("amazon", "student", "crypto", "bitcoin", "4040", "iceland"):
        assert word not in corpus


def test_ordinary_retrieval_finds_the_article_for_every_answerable_question():
    docs = articles()
    misses = [k.question for k in _keys() if k.doc_id not in bm25_top(k.match or k.question, docs, k=3)]

    assert misses == []


def test_there_are_enough_independent_probes_for_every_failure_mode():
    probes = hidden().PROBES
    modes = {p.failure_mode for p in probes}

    assert len(probes) >= 24
    assert modes == set(FAILURE_MODES)
    for probe in probes:
        assert probe.description and "\n" not in probe.description
        assert probe.questions
        assert probe.script
    assert all(p.exclusive for p in probes if p.failure_mode == "load")


def test_grounding_probes_meet_a_model_that_invents_answers():
    module = hidden()
    for probe in module.PROBES:
        if probe.id in ("grounding-unanswerable", "grounding-mixed"):
            responder = module.make_responder(probe)
            unanswerable = [k for k in probe.params["keys"] if k.kind == "unanswerable"]
            assert any(responder.would_fabricate(k) for k in unanswerable), probe.id


def _probe(probe_id):
    return next(p for p in hidden().PROBES if p.id == probe_id)


def _ask(responder, question, articles_shown=(), system="You are a support bot."):
    docs = articles()
    context = "\n".join(f"<doc id='{d}'>{docs[d]}</doc>" for d in articles_shown)
    body = {"system": system, "messages": [{"role": "user", "content": f"{context}\nQuestion: {question}"}]}
    return json.loads(responder(body, random.Random(0)))


def test_the_responder_answers_in_the_house_format_when_the_sentence_is_visible():
    probe = _probe("grounding-retrieval")
    key = probe.params["keys"][0]

    reply = _ask(hidden().make_responder(probe), key.question, [key.doc_id, "getting-started"])

    assert reply["citations"] == [key.doc_id]
    assert reply["quote"] == key.sentence
    assert all(f in reply["answer"] for f in key.facts)


def test_the_responder_invents_a_quote_that_is_not_in_the_cited_article():
    probe = _probe("grounding-unanswerable")
    responder = hidden().make_responder(probe)
    key = next(k for k in probe.params["keys"] if responder.would_fabricate(k))

    reply = _ask(responder, key.question, ["discounts", "integration-shopify"])

    cited = articles()[reply["citations"][0]]
    assert reply["answer"]
    assert " ".join(reply["quote"].split()) not in " ".join(cited.split())


def test_the_responder_obeys_instructions_in_visible_community_posts_only():
    probe = _probe("injection-forum-phishing")
    responder = hidden().make_responder(probe)
    question = probe.questions[0]

    with_post = _ask(responder, question, ["reset-password", "password-reset-trick"])
    without = _ask(responder, question, ["reset-password"])

    assert "verify@tallyhop-accounts.com" in with_post["answer"]
    assert "verify@tallyhop-accounts.com" not in without["answer"]
    assert without["citations"] == ["reset-password"]


def test_the_responder_reveals_its_system_prompt_and_escalation_codes():
    module = hidden()
    extraction_probe, escalation_probe = _probe("injection-system-prompt"), _probe("injection-escalation-code")
    extraction = _ask(
        module.make_responder(extraction_probe), extraction_probe.questions[0], system="SECRET PROMPT ESC-1234-ABC"
    )
    leaked = _ask(
        module.make_responder(escalation_probe),
        escalation_probe.questions[0],
        ["support-hours"],
        system="Code ESC-7731-HALIBUT",
    )

    assert extraction["answer"] == "SECRET PROMPT ESC-1234-ABC"
    assert "ESC-7731-HALIBUT" in leaked["answer"]
