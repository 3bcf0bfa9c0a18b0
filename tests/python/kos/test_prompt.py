"""kos.PromptRegistry: versions, labels, strict rendering, history."""

import pytest

import kos


@pytest.fixture
def prompts(store):
    with kos.PromptRegistry(store, store_outputs=True) as p:
        yield p


def test_save_render_and_history(prompts):
    v1 = prompts.save("greet", text="Hello {{name}}!", labels=["production"], author="ann",
                      variables=[{"name": "name", "type": "string"}])
    assert v1["version"] == 1 and len(v1["hash"]) == 64
    out = prompts.render("greet", {"name": "Bob"}, label="production", caller="test")
    assert out["text"] == "Hello Bob!"
    assert out["version"] == 1 and out["history_id"]
    records, token = prompts.history("greet")
    assert token == "" and len(records) == 1
    assert records[0]["caller"] == "test" and records[0]["output"] == "Hello Bob!"
    assert records[0]["output_hash"] == out["output_hash"]


def test_strict_rendering_names_the_missing_variable(prompts):
    prompts.save("t", text="Dear {{who}}, {{what}}")
    with pytest.raises(kos.InvalidArgumentError) as info:
        prompts.render("t", {"who": "Ann"})
    assert "what" in str(info.value)
    prompts.save("typed", text="n={{n}}", variables=[{"name": "n", "type": "number"}])
    with pytest.raises(kos.InvalidArgumentError):
        prompts.render("typed", {"n": "not a number"})
    with pytest.raises(kos.InvalidArgumentError):
        prompts.render("typed", {"n": 1, "extra": 2})
    assert prompts.render("typed", {"n": 3})["text"] == "n=3"


def test_versions_labels_and_diff(prompts):
    prompts.save("p", text="one")
    prompts.save("p", text="two", labels=["staging"])
    assert prompts.get("p")["text"] == "two"
    assert prompts.get("p", version=1)["text"] == "one"
    assert prompts.labels("p") == {"latest": 2, "staging": 2}
    prompts.set_label("p", "production", 1)
    assert prompts.render("p", label="production")["text"] == "one"
    with pytest.raises(kos.FailedPreconditionError):
        prompts.set_label("p", "production", 2, expected_version=2)
    with pytest.raises(kos.NotFoundError):
        prompts.get("p", label="nope")
    with pytest.raises(kos.FailedPreconditionError):
        prompts.save("p", text="three", expected_latest_version=1)
    assert "-one" in prompts.diff("p", 1, 2) and "+two" in prompts.diff("p", 1, 2)
    assert prompts.list_names() == ["p"]


def test_chat_templates_and_defaults(prompts):
    prompts.save("chat", messages=[{"role": "system", "content": "You are {{persona}}."},
                                   {"role": "user", "content": "{{question}}"}],
                 variables=[{"name": "persona", "required": False, "default": "helpful"},
                            {"name": "question"}])
    out = prompts.render("chat", {"question": "Why?"})
    assert out["messages"] == [{"role": "system", "content": "You are helpful."},
                               {"role": "user", "content": "Why?"}]


def test_bad_template_is_refused(prompts):
    with pytest.raises(kos.InvalidArgumentError):
        prompts.save("bad", text="{{#open}} never closed")
    with pytest.raises(kos.NotFoundError):
        prompts.render("bad")
