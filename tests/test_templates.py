"""Template sets: files of one language merge; errors name the file and the template key."""

import pytest

from sfsync.errors import ConfigError
from sfsync.templates import load_templates, placeholders


def _write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_files_of_one_language_merge_and_render(tmp_path):
    _write(tmp_path / "ja", "a.yaml", "tasks:\n  t1: {subject: '{account_name} 様'}\n")
    _write(tmp_path / "ja", "b.yaml", "slack:\n  s1: {text: 'こんにちは'}\n")
    templates = load_templates(tmp_path, "ja")
    assert templates.render("tasks", "t1", {"account_name": "株式会社A"}) == {
        "subject": "株式会社A 様"
    }
    assert templates.file_of("slack", "s1").endswith("b.yaml")


def test_a_key_defined_twice_names_both_files(tmp_path):
    _write(tmp_path / "en", "a.yaml", "tasks:\n  t1: {subject: x}\n")
    _write(tmp_path / "en", "b.yaml", "tasks:\n  t1: {subject: y}\n")
    with pytest.raises(ConfigError) as exc:
        load_templates(tmp_path, "en")
    assert "b.yaml: tasks.t1: also defined in" in str(exc.value)
    assert "a.yaml" in str(exc.value)


def test_an_unknown_placeholder_names_the_file_and_key(tmp_path):
    _write(tmp_path / "en", "tasks.yaml", "tasks:\n  t1: {subject: '{acount_name}'}\n")
    templates = load_templates(tmp_path, "en")
    with pytest.raises(ConfigError) as exc:
        templates.render("tasks", "t1", {"account_name": "A"})
    message = str(exc.value)
    assert "tasks.yaml: tasks.t1.subject: unknown placeholder(s) acount_name" in message
    assert "available: account_name" in message


def test_a_missing_language_says_which_exist(tmp_path):
    with pytest.raises(ConfigError, match="no template files for language 'fr'"):
        load_templates(tmp_path, "fr")


def test_placeholders_ignore_attribute_and_index_access():
    assert placeholders("{a} {b.c} {d[0]} {{literal}}") == {"a", "b", "d"}
