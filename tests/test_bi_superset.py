"""The BI check of benchmarks/bi_superset.py: its views file, its comparison, and a real Superset.

The Superset test runs only where a Superset is installed (in a venv of its own, never
framescope's; docs/monitoring.md, "BI servers"): ``FRAMESCOPE_SUPERSET`` names its
``superset`` executable, else ``superset`` on PATH; elsewhere it is skipped.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bi_superset.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("bi_superset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bi = _load_script()


def test_sample_views_file_follows_the_contract(tmp_path):
    """The file the BI server reads: four views, latest versions, UTC weeks, undated articles apart."""
    dataset = bi.build_dataset(tmp_path)
    db_file = tmp_path / "framescope.duckdb"
    bi.write_views(dataset, db_file, "auto")
    bi.check_views(db_file)
    with duckdb.connect(str(db_file), read_only=True) as con:
        n, ids = con.execute("SELECT count(*), count(DISTINCT id) FROM articles_latest").fetchone()
        assert n == ids == 36  # the edited article once
        edited = con.execute("SELECT text_sha256, scored_at FROM articles_latest WHERE id = 'art-03'").fetchone()
        runs = bi.sample_runs(tmp_path / "again")
        texts = duckdb.execute(
            f"SELECT text_sha256 FROM read_parquet('{runs[2] / 'articles.parquet'}') WHERE id = 'art-03'"
        ).fetchall()
        assert edited[0] == texts[0][0] and edited[1].date() == date(2026, 11, 18)
        undated = con.execute(
            "SELECT DISTINCT articles FROM outlet_week_technique WHERE week IS NULL AND outlet = 'Harbor Times'"
        ).fetchall()
        assert undated == [(1,)]
        weeks = {}
        for zone in ("UTC", "Europe/Berlin", "America/Los_Angeles"):
            con.execute(f"SET TimeZone = '{zone}'")
            rows = con.execute("SELECT * FROM outlet_week_technique ORDER BY ALL").fetchall()
            # a parallel avg() sums in any order: compare the means to 12 digits
            weeks[zone] = [(*r[:-2], round(r[-2], 12), round(r[-1], 12)) for r in rows]
        assert weeks["UTC"] == weeks["Europe/Berlin"] == weeks["America/Los_Angeles"]
        assert all(w is None or w.weekday() == 0 for _, w, *_ in weeks["UTC"])
        # Sunday 23:30 UTC is Monday 00:30 in Berlin: the week is still the UTC one, six days before
        con.execute("SET TimeZone = 'Europe/Berlin'")
        late = con.execute(
            "SELECT timezone('UTC', published_at)::DATE - week FROM articles_latest "
            "WHERE strftime(timezone('UTC', published_at), '%w %H:%M') = '0 23:30'"
        ).fetchall()
        assert late and set(late) == {(6,)}


def test_compare_reports_every_difference():
    want = {("Bote", "2026-10-05"): (0.5, 4), ("Bote", "2026-10-12"): (0.25, 4), ("Herald", "2026-10-05"): (1.0, 1)}
    assert bi.compare(want, dict(want)) == []
    assert bi.compare(want, {**want, ("Bote", "2026-10-05"): (0.5 + 1e-12, 4)}) == []  # float noise only
    got = {("Bote", "2026-10-05"): (0.5, 3), ("Bote", "2026-10-12"): (0.26, 4), ("Herald", "2026-10-19"): (1.0, 1)}
    problems = bi.compare(want, got)
    assert len(problems) == 4
    assert any("('Herald', '2026-10-05'): in DuckDB, not in the chart" in p for p in problems)
    assert any("('Herald', '2026-10-19'): in the chart, not in DuckDB" in p for p in problems)
    assert any("of 4 articles, chart 0.5 of 3" in p for p in problems)
    assert any("chart 0.26" in p for p in problems)


def test_without_superset_the_check_says_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRAMESCOPE_SUPERSET", str(tmp_path / "no-such-superset"))
    assert bi.main([]) == 0
    assert "skipped: no Superset" in capsys.readouterr().out


def test_superset_chart_equals_duckdb(tmp_path):
    """A real Superset: started on loopback, connected to the views file, a chart's numbers checked."""
    if bi.find_superset(None) is None:
        pytest.skip("no Superset: set FRAMESCOPE_SUPERSET to its superset executable (docs/monitoring.md)")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "OK: the chart's numbers equal DuckDB's" in done.stdout
    assert "MISMATCH" not in done.stdout
