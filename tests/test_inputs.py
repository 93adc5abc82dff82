"""framescope.inference.inputs: every kind of input, ids, languages and per-article errors."""

from __future__ import annotations

import io
import json
import types
from importlib import resources


from framescope.inference.inputs import Article, Fields, InputError, count_inputs, iter_inputs

EXAMPLES = resources.files("framescope.inference") / "examples"
DE = (EXAMPLES / "de_article.txt").read_text(encoding="utf-8")
EN = (EXAMPLES / "en_article.txt").read_text(encoding="utf-8")


def collect(inputs, **kw):
    items = list(iter_inputs([str(i) for i in inputs], **kw))
    return [i for i in items if isinstance(i, Article)], [i for i in items if isinstance(i, InputError)]


def test_is_a_lazy_generator(tmp_path):
    (tmp_path / "a.txt").write_text("one article", encoding="utf-8")
    gen = iter_inputs([str(tmp_path)], lang="en")
    assert isinstance(gen, types.GeneratorType)
    (tmp_path / "b.txt").write_text("written after the iterator was made", encoding="utf-8")
    assert [a.id for a in gen] == ["a.txt", "b.txt"]


def test_txt_files_folders_and_globs(tmp_path):
    (tmp_path / "news" / "2024").mkdir(parents=True)
    (tmp_path / "news" / "a.txt").write_text(DE, encoding="utf-8")
    (tmp_path / "news" / "2024" / "b.txt").write_text(EN, encoding="utf-8")
    (tmp_path / "news" / "notes.md").write_text("not an article", encoding="utf-8")
    single = tmp_path / "single.txt"
    single.write_bytes(b"\xef\xbb\xbfWith a byte order mark.")

    arts, errs = collect([tmp_path / "news"], lang="xx")
    assert errs == []
    assert [a.id for a in arts] == ["2024/b.txt", "a.txt"]  # recursive, relative, sorted, / separators
    assert arts[1].text == DE and arts[0].text == EN
    assert all(a.lang == "xx" for a in arts)

    arts, _ = collect([single], lang="en")
    # the BOM is part of the stored text and counts in offsets, as in the SemEval gold labels
    assert arts[0].id == "single.txt" and arts[0].text == "\ufeffWith a byte order mark."

    arts, errs = collect([f"{tmp_path}/news/**/*.txt"], lang="en")
    assert errs == [] and sorted(a.id for a in arts) == ["2024/b.txt", "a.txt"]
    _, errs = collect([f"{tmp_path}/nothing/*.txt"])
    assert errs[0].reason == "pattern matches no files"


def test_language_detection_and_override(tmp_path):
    (tmp_path / "de.txt").write_text(DE, encoding="utf-8")
    (tmp_path / "en.txt").write_text(EN, encoding="utf-8")
    arts, _ = collect([tmp_path])
    assert {a.id: a.lang for a in arts} == {"de.txt": "de", "en.txt": "en"}
    arts, _ = collect([tmp_path], lang="fr")
    assert {a.lang for a in arts} == {"fr"}
    arts, _ = collect([tmp_path], detect=False)
    assert {a.lang for a in arts} == {None}


def test_bad_txt_files_are_errors_with_reasons(tmp_path):
    (tmp_path / "ok.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("ok so far: Übermacht".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00junk")
    (tmp_path / "empty.txt").write_bytes(b" \n\t\n")
    (tmp_path / "unreadable.txt").mkdir()  # a folder named *.txt cannot be read as a file
    arts, errs = collect([tmp_path, tmp_path / "missing.txt"], lang="en")
    assert [a.id for a in arts] == ["ok.txt"]
    reasons = {e.id: e.reason for e in errs}
    assert reasons["latin1.txt"] == "not valid UTF-8 at byte 11: invalid continuation byte"
    assert reasons["binary.txt"] == "binary file (NUL byte at byte 4)"
    assert reasons["empty.txt"] == "empty article"
    missing = [e for e in errs if e.source.endswith("missing.txt")]
    assert missing and missing[0].reason == "no such file or folder"


def test_jsonl(tmp_path):
    p = tmp_path / "feed.jsonl"
    lines = [
        json.dumps({"id": "a1", "text": DE, "lang": "DE"}),
        "",
        json.dumps({"text": "no id here"}),
        "{not json",
        json.dumps({"id": "a4"}),
        json.dumps({"id": 5, "text": "numeric id"}),
        json.dumps(["a list"]),
        json.dumps({"id": "a8", "text": "   "}),
        json.dumps({"id": "a1", "text": "duplicate"}),
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    arts, errs = collect([p], lang="en")
    assert [(a.id, a.lang) for a in arts] == [("a1", "de"), ("feed.jsonl:3", "en"), ("5", "en")]
    assert arts[0].text == DE
    by_source = {e.source.rsplit(":", 1)[1]: e for e in errs}
    assert by_source["4"].reason.startswith("not valid JSON")
    assert by_source["5"].id == "a4" and by_source["5"].reason == "no 'text' field"
    assert by_source["7"].reason == "a JSONL line must be a JSON object"
    assert by_source["8"].reason == "empty article"
    assert by_source["9"].reason.startswith("duplicate id")


def test_jsonl_custom_fields_and_bad_bytes(tmp_path):
    p = tmp_path / "f.jsonl"
    good = json.dumps({"uid": "u1", "body": "text one", "language": "pl"}).encode()
    data = good + b"\n" + b'{"uid": "u2", "body": "caf\xe9"}\n'
    p.write_bytes(data)
    arts, errs = collect([p], fields=Fields(id="uid", text="body", lang="language"))
    assert [(a.id, a.text, a.lang) for a in arts] == [("u1", "text one", "pl")]
    assert errs[0].source.endswith("f.jsonl:2")
    at = data.index(b"\xe9")
    assert errs[0].reason == f"not valid UTF-8 at byte {at}: invalid continuation byte"


def test_csv(tmp_path):
    p = tmp_path / "feed.csv"
    data = (
        b"id,text,lang\n"
        b'c1,"Line one, with a comma\nand a second ""quoted"" line",de\n'
        b"c2,,en\n"
        b'c3,"bad \xff byte",en\n'
        b"c4,only two\n"
        b',"no id",\n'
    )
    p.write_bytes(data)
    arts, errs = collect([p], lang="en")
    assert [(a.id, a.lang) for a in arts] == [("c1", "de"), ("feed.csv:7", "en")]
    assert arts[0].text == 'Line one, with a comma\nand a second "quoted" line'
    reasons = {e.source.rsplit(":", 1)[1]: e.reason for e in errs}
    assert reasons["4"] == "empty article"
    at = data.index(b"\xff")
    assert reasons["5"] == f"not valid UTF-8 at byte {at}: invalid start byte"
    assert reasons["6"] == "2 fields where the header has 3"


def test_csv_columns(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("key,body\nk1,hello there\n", encoding="utf-8")
    arts, errs = collect([p], lang="en", fields=Fields(id="key", text="body", id_required=True))
    assert [(a.id, a.text) for a in arts] == [("k1", "hello there")] and errs == []
    arts, errs = collect([p], lang="en")
    assert arts == [] and errs[0].reason == "no column 'text' (columns: key, body)"
    arts, errs = collect([p], lang="en", fields=Fields(id="uid", text="body", id_required=True))
    assert errs[0].reason == "no column 'uid' (columns: key, body)"


def test_csv_large_field(tmp_path):
    big = "word " * 60_000  # over csv's default field size limit
    p = tmp_path / "big.csv"
    p.write_text('id,text\nbig,"' + big + '"\n', encoding="utf-8")
    arts, errs = collect([p], lang="en")
    assert errs == [] and arts[0].text == big


def test_stdin_jsonl_and_text():
    jsonl = b'\n{"id": "s1", "text": "first"}\n{"id": "s2", "text": "second"}\nnot json\n'
    arts, errs = collect(["-"], lang="en", stdin=io.BytesIO(jsonl))
    assert [(a.id, a.text) for a in arts] == [("s1", "first"), ("s2", "second")]
    assert errs[0].source == "stdin:4" and errs[0].reason.startswith("not valid JSON")

    arts, errs = collect(["-"], lang="en", stdin=io.BytesIO(b"Just one article.\n{x}\n"))
    assert [(a.id, a.text) for a in arts] == [("stdin", "Just one article.\n{x}\n")]
    _, errs = collect(["-"], stdin=io.BytesIO(b""))
    assert errs[0].reason == "empty article"


def test_count_inputs(tmp_path):
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "f.jsonl").write_text('{"text": "a"}\n\n{"text": "b"}\n', encoding="utf-8")
    (tmp_path / "f.csv").write_text("text\na\nb\nc\n", encoding="utf-8")
    assert count_inputs([str(tmp_path), str(tmp_path / "f.jsonl"), str(tmp_path / "f.csv")]) == 6
    assert count_inputs(["-"]) is None


def _issue_csv(path, rows: int = 1000) -> bytes:
    """The issue's case: 1,000 quoted rows, the quote of row 1's text never closed."""
    lines = ["id,text,lang"] + [
        f'{i},"Die feigen Verräter haben uns am Tag {i} verkauft.",de' for i in range(1, rows + 1)
    ]
    lines[1] = '1,"Die feigen Verräter haben uns am Tag 1 verkauft.,de'
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(data)
    return data


def test_csv_unterminated_quote_is_an_error_never_a_merge(tmp_path):
    p = tmp_path / "feed.csv"
    _issue_csv(p)
    arts, errs = collect([p], lang="de")
    # lenient parsing read 999 articles, row 2 swallowed into row 1's text
    assert arts == []
    assert len(errs) == 1 and errs[0].source == f"{p}:2"
    assert errs[0].reason.startswith("not valid CSV at line 3: ',' expected after '\"'")
    assert "lines 2-1001 not read" in errs[0].reason


def test_csv_records_before_a_bad_quote_are_read_the_rest_is_one_error(tmp_path):
    p = tmp_path / "feed.csv"
    p.write_bytes(
        b"id,text\n"
        b'a,"fine, and quoted"\n'
        b"b,plain\n"
        b'c,"closed" then more\n'  # text after a closing quote: lenient csv glued it on
        b"d,never read\n"
    )
    arts, errs = collect([p], lang="en")
    assert [(a.id, a.text) for a in arts] == [("a", "fine, and quoted"), ("b", "plain")]
    assert [e.source for e in errs] == [f"{p}:4"]
    assert errs[0].reason.startswith("not valid CSV at line 4:") and "lines 4-5 not read" in errs[0].reason


def test_csv_quote_open_at_end_of_file(tmp_path):
    p = tmp_path / "feed.csv"
    p.write_bytes(b'id,text\na,ok\nb,"runs to the end\nof the file\n')
    arts, errs = collect([p], lang="en")
    assert [a.id for a in arts] == ["a"]
    assert errs[0].source == f"{p}:3" and "unexpected end of data" in errs[0].reason
    assert "lines 3-4 not read" in errs[0].reason


def test_csv_header_naming_a_column_twice(tmp_path):
    p = tmp_path / "feed.csv"
    p.write_text("id,text,text\na,one,two\n", encoding="utf-8")
    arts, errs = collect([p], lang="en")
    assert arts == [] and errs[0].reason == "CSV header names a column more than once: text"


def test_csv_bare_carriage_return_is_an_error_naming_it(tmp_path):
    p = tmp_path / "feed.csv"
    p.write_bytes(b"id,text\na,one\rtwo\nb,ok\n")
    arts, errs = collect([p], lang="en")
    assert arts == [] and errs[0].source == f"{p}:2"
    assert errs[0].reason == (
        "not valid CSV at line 2: a carriage return alone inside an unquoted field (quote the field, or end lines "
        "with LF or CRLF); lines 2-3 not read, fix and rerun"
    )


def test_score_cli_reports_the_malformed_csv_lines(model_dir, tmp_path):
    """The issue's command: the summary and errors.jsonl name the lines; nothing merged is scored."""
    from typer.testing import CliRunner

    from framescope.cli import _register, app

    _register()
    feed = tmp_path / "feed.csv"
    _issue_csv(feed)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["score", str(feed), "--model", str(model_dir), "--out", str(out), "-q", "-f", "jsonl"]
    )
    assert result.exit_code == 1, result.output  # some articles failed (here: all of them)
    shown = " ".join(result.output.replace("│", " ").split())  # table cells wrap: read them as text
    assert "articles exported 0" in shown and "lines 2-1001 not read" in shown
    (error,) = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert error["source"] == f"{feed}:2" and error["reason"].startswith("not valid CSV at line 3")
    assert (out / "results.jsonl").read_text(encoding="utf-8") == ""
