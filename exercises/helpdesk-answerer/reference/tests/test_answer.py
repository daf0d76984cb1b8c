import json

import pytest
from helpdesk import answer
from helpdesk.corpus import get_corpus
from helpdesk.inputs import clean_question
from helpdesk.reply import HouseReply, parse_house_reply, verify

HOUSE = {
    "answer": "Card payments cost 2.9 percent plus 30 cents.",
    "citations": ["payment-methods"],
    "quote": "Card payments cost 2.9 percent plus 30 cents per successful payment, "
    "deducted before the money reaches you.",
}


def test_it_answers_from_the_help_centre(fake_model):
    result = answer("How do I reset my password?")

    assert result["status"] == "answered"
    assert result["citations"][0] == "reset-password"
    assert len(fake_model.requests) == 1
    assert fake_model.requests[0]["input_tokens"] < 6000


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * 50_000, None])
def test_it_rejects_bad_input_without_calling_the_model(fake_model, question):
    assert answer(question)["status"] == "rejected"
    assert fake_model.requests == []


def test_it_survives_a_lone_surrogate():
    assert clean_question("How do I reset my password?\ud800").text == "How do I reset my password??"


@pytest.mark.parametrize("script", ["529,ok", "500,ok", "reset,ok", "429(retry_after=1),ok", "html,ok"])
def test_it_recovers_from_transient_faults(fake_model, script):
    fake_model.reset(script=script)
    assert answer("How do I reset my password?")["status"] == "answered"
    assert len(fake_model.requests) == 2


@pytest.mark.parametrize("script", ["max_tokens", "empty", "refusal", "wrong_schema", "badjson"])
def test_it_never_shows_a_broken_reply(fake_model, script):
    fake_model.reset(script=script)
    result = answer("How do I reset my password?")
    assert result["status"] in {"unknown", "unavailable"}
    assert "{" not in result["answer"]


def test_it_gives_up_in_time_when_the_retry_after_is_too_long(fake_model):
    fake_model.reset(script="429(retry_after=60)")
    assert answer("How do I reset my password?")["status"] == "unavailable"
    assert len(fake_model.requests) == 1


@pytest.mark.parametrize("wrapper", ["Sure! Here it is:\n{}\nHope this helps.", "```json\n{}\n```"])
def test_it_reads_json_wrapped_in_prose_or_fences(wrapper):
    reply = parse_house_reply(wrapper.replace("{}", json.dumps(HOUSE)))
    assert reply is not None and reply.citations == ["payment-methods"]


def test_it_refuses_a_quote_that_is_not_in_the_cited_article():
    corpus = get_corpus()
    invented = HouseReply(
        answer="Yes, 40 percent off.",
        citations=["plans-and-pricing"],
        quote="Every customer gets 40 percent off the Growth plan.",
    )
    assert verify(invented, corpus).answer is None
    ghost = HouseReply(**{**HOUSE, "citations": ["payments-faq"]})
    assert verify(ghost, corpus).answer is None
    assert verify(HouseReply(**HOUSE), corpus).answer == HOUSE["answer"]


def test_it_never_cites_a_community_post():
    corpus = get_corpus()
    post = HouseReply(
        answer="Disconnect and reconnect the bank.",
        citations=["bank-feed-sync-workaround"],
        quote="Disconnecting the bank and connecting it again under Banking fixed it straight away.",
    )
    assert verify(post, corpus).answer is None


def test_a_repeated_question_is_answered_from_memory_but_a_failure_is_not_remembered(fake_model):
    question = "How do I reset my password?"
    fake_model.reset(script="529")
    assert answer(question)["status"] == "unavailable"
    failed = len(fake_model.requests)

    fake_model.reset(script="ok")
    first = answer(question)
    again = answer(question)

    assert first["status"] == again["status"] == "answered" and again == first
    assert failed >= 2 and len(fake_model.requests) == 1
