"""exercise.toml as a format: what the one loader accepts, and the message an author gets when it refuses.

An author adding a take-home meets these messages first, so each names the file and the key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.package import PackageError, load_package
from grader.runner import GradingError, load_exercise
from grader.schema import schema_problems, validate

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "exercises" / "tiny-echo"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    target = tmp_path / "tiny-echo"
    shutil.copytree(TINY, target)
    return target


def _edit(package: Path, old: str, new: str) -> None:
    manifest = package / "exercise.toml"
    text = manifest.read_text()
    assert old in text, old
    manifest.write_text(text.replace(old, new))


def test_the_fixture_loads_with_its_contract_and_modes(package):
    loaded = load_package(package)

    assert loaded.contract.entry_point == "echo:answer"
    assert loaded.contract.call_timeout_s == 4.0
    assert loaded.mode_slugs == ("input", "grounding")
    assert loaded.failure_modes[0].hint == "Plain questions."
    assert loaded.limits.max_files == 10


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[contract]\n", "[contrat]\n", "missing contract"),
        ('entry_point = "echo:answer"', 'entry_point = "echo answer"', "contract.entry_point must look like"),
        ("call_timeout_s = 4", "call_timeout_s = 0", "contract.call_timeout_s must be"),
        ("concurrency = 4", "concurrency = 1000", "contract.concurrency must be an integer from 1 to 64"),
        ("concurrency = 4", "concurency = 4", "[contract] has unknown keys concurency"),
        ('input = { type = "string" }', 'input = { type = "text" }', "contract.input: unknown type 'text'"),
        ('input = { type = "string" }', 'input = { type = "string", pattern = "a" }', "unsupported keyword 'pattern'"),
        ('input = { type = "string" }', 'input = "contract/none.json"', "which is not a file in the package"),
        ('input = { type = "string" }', 'input = "../../etc/passwd"', "which is not a file in the package"),
        ('slug = "input"\n', 'slug = "Input Handling"\n', "must be lower-case letters"),
        ('slug = "grounding"\ntitle', 'slug = "input"\ntitle', "failure mode 'input' is declared twice"),
        ('hint = "Plain questions."', 'hint = ""', "failure mode 1 lacks hint"),
        ("max_files = 10", "max_files = -1", "limits.max_files must be a positive integer"),
        ("max_files = 10", "call_timeout_s = 3", "call limits live in [contract]"),
        ('summary = "', 'sumary = "', "unknown keys sumary"),
        ('hint = "Plain questions."', 'hint = "Plain questions."\nhnt = "x"', "failure mode 1 has unknown keys hnt"),
        ("[contract]\n", 'entry_point = "echo:answer"\n[contract]\n', "unknown keys entry_point"),
        ("[contract]\n", "[contrat]\n", "missing contract"),
    ],
)
def test_a_broken_manifest_is_refused_with_a_message_naming_the_key(package, old, new, message):
    _edit(package, old, new)

    with pytest.raises(PackageError) as refused:
        load_package(package)

    assert message in str(refused.value)
    assert "exercise.toml" in str(refused.value)


def test_a_schema_file_is_read_from_the_package(package):
    (package / "contract").mkdir()
    (package / "contract" / "out.json").write_text(json.dumps({"type": "object", "required": ["answer"]}))
    manifest = package / "exercise.toml"
    lines = manifest.read_text().splitlines()
    manifest.write_text(
        "\n".join('output = "contract/out.json"' if line.startswith("output = ") else line for line in lines) + "\n"
    )

    assert load_package(package).contract.output == {"type": "object", "required": ["answer"]}


def test_a_rubric_naming_an_undeclared_mode_is_refused(package):
    rubric = package / "rubric.toml"
    rubric.write_text(rubric.read_text().replace('failure_modes = ["grounding"]', 'failure_modes = ["latency"]'))

    with pytest.raises(PackageError, match=r"names failure modes latency that exercise\.toml does not declare"):
        load_package(package)


def test_probes_must_use_declared_modes_and_inputs_the_contract_accepts(package):
    probes = package / "hidden" / "probes.py"
    probes.write_text(
        probes.read_text()
        .replace('failure_mode="input"', 'failure_mode="latency"')
        .replace('inputs=("hello",),\n        check=_asked_model', "inputs=({'q': 1},),\n        check=_asked_model")
    )
    _edit(package, 'version = "0.1.0"', 'version = "0.1.1"')  # a fresh module name for the loader

    with pytest.raises(GradingError) as refused:
        load_exercise(package)

    assert "probe echo-plain: failure mode 'latency' is not declared in exercise.toml" in str(refused.value)
    assert "probe echo-model: input 1 breaks the contract's input schema: $: expected string, got object" in str(
        refused.value
    )


def test_the_schema_subset_names_every_violation_with_its_path():
    schema = {
        "type": "object",
        "required": ["status", "order"],
        "additionalProperties": False,
        "properties": {
            "status": {"enum": ["extracted", "needs_human"]},
            "order": {
                "type": ["object", "null"],
                "properties": {"quantity": {"type": "integer", "minimum": 1}, "sku": {"type": "string"}},
            },
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        },
    }

    assert validate({"status": "extracted", "order": None}, schema) == []
    assert validate({"status": "extracted", "order": {"quantity": 2, "sku": "A1"}, "tags": ["x"]}, schema) == []
    assert validate({"status": "maybe", "order": {"quantity": 0}, "tags": ["a", 3, "c"], "extra": 1}, schema) == [
        '$.status: "maybe" is not one of "extracted", "needs_human"',
        "$.order.quantity: 0 is below the minimum 1",
        "$.tags: more than 2 items (3)",
        "$.tags[1]: expected string, got integer",
        '$: unexpected key "extra"',
    ]
    assert validate([1], schema) == ["$: expected object, got array"]
    assert validate(True, {"type": "integer"}) == ["$: expected integer, got boolean"]
    assert validate(3, {"type": "number"}) == []
    assert schema_problems({"type": "object", "properties": {"a": {"format": "date"}}}) == [
        "$.a: unsupported keyword 'format'"
    ]


def test_a_fault_script_that_does_not_parse_is_refused_when_the_package_loads(package):
    probes = package / "hidden" / "probes.py"
    probes.write_text(
        probes.read_text().replace(
            'script="ok",\n        inputs=("hello",),\n        check=_asked',
            'script="529*3,okk",\n        inputs=("hello",),\n        check=_asked',
        )
    )
    _edit(package, 'version = "0.1.0"', 'version = "0.1.2"')

    with pytest.raises(GradingError, match=r"probe echo-model: its fault script does not parse: .*unknown step 'okk'"):
        load_exercise(package)
