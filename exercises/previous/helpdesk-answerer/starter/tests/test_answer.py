from helpdesk import answer


def test_it_answers_a_question_from_the_help_centre():
    result = answer("How do I reset my password?")

    assert result["status"] == "answered"
    assert "reset-password" in result["citations"]
    assert "password" in result["answer"]


def test_it_answers_a_pricing_question():
    result = answer("How much does the Growth plan cost?")

    assert result["status"] == "answered"
    assert result["citations"] == ["plans-and-pricing"]
    assert "29 dollars" in result["answer"]


def test_it_returns_the_contract_shape(fake_model):
    result = answer("Can I export my invoices as CSV?")

    assert set(result) == {"status", "answer", "citations"}
    assert result["status"] in {"answered", "unknown", "unavailable", "rejected"}
    assert isinstance(result["answer"], str)
    assert all(isinstance(c, str) for c in result["citations"])
    assert len(fake_model.requests) == 1
