"""A real BI server against the dataset's DuckDB views: Apache Superset, end to end.

docs/monitoring.md ("BI servers") says which BI server was tried and how; this script is
that check, runnable again:

1. a DuckDB file of views over a framescope dataset: ``--duckdb FILE`` names one (for
   example written by ``framescope dataset views``); else the script builds a small
   synthetic dataset with the project's own append code (three runs, three outlets,
   an edited article, undated articles, an empty week, dates near midnight between Sunday
   and Monday) and writes the views file itself, with ``framescope dataset views`` where
   the installed CLI has that command, else with the stand-in views below;
2. a throw-away Superset: a temporary ``SUPERSET_HOME`` and config (random ``SECRET_KEY``,
   SQLite metadata), ``superset db upgrade``, ``superset fab create-admin``,
   ``superset init``, then ``superset run`` on 127.0.0.1, its time zone set to
   Europe/Berlin so that a view which depends on the session's zone shows up;
3. through Superset's REST API: log in, add the database
   ``duckdb:///FILE?access_mode=read_only`` (duckdb-engine), a dataset on the
   ``outlet_week_technique`` view and a saved line chart (share per week of one
   technique, a series per outlet, week grain), then the chart's data;
4. the same numbers straight from the file with the ``duckdb`` package in a UTC session:
   every (outlet, week) point of the chart must be there with the same share and article
   count, and nothing more.

Superset is never a dependency of framescope: install it in a venv of its own (the
commands are in docs/monitoring.md) and name its executable with ``--superset`` or the
environment variable ``FRAMESCOPE_SUPERSET``; else ``superset`` on ``PATH`` is used.
Without one the script says so and exits 0 (skipped).

    python benchmarks/bi_superset.py [--duckdb FILE | --dataset DIR] [--technique T] [--outlet O]

Exits 0 when the chart's numbers equal DuckDB's (or when skipped), 1 when they do not or
a step fails. The server is stopped on every path (also on Ctrl-C and SIGTERM).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, Iterator

VIEWS = ("articles_latest", "spans_latest", "paragraphs_latest", "outlet_week_technique")
OWT_COLUMNS = ("outlet", "week", "technique", "articles", "articles_with_technique", "share", "mean_prob")
TECHNIQUES = ("Loaded_Language", "Appeal_to_Fear-Prejudice", "Name_Calling-Labeling")
CATEGORIES = ("manipulative_wording", "justification", "attack_on_reputation")
OUTLETS = ("Der Bote", "Harbor Times", "Le Veilleur")
FIRST_MONDAY = datetime(2026, 10, 5, tzinfo=timezone.utc)
SERVER_TZ = "Europe/Berlin"
STEP_TIMEOUT_S = 1800.0  # one superset CLI step: 50 s on an idle 2-core machine, over 600 s on a busy one
TOL = 1e-9


class CheckFailed(Exception):
    """A step of the check failed; the message is the one line to print."""


# -- 1. the DuckDB file of views --------------------------------------------------------


def sample_runs(root: Path, seed: int = 7) -> list[Path]:
    """Three run folders (articles, spans, paragraphs Parquet and a manifest) as ``score`` writes them.

    Made-up articles over six weeks with the cases a weekly chart gets wrong: two undated
    articles, an article edited on day 3 (same id, new text), dates at 23:30 UTC on a Sunday
    (Monday in Berlin), and no article of "Le Veilleur" in the fourth week.
    """
    rng = random.Random(seed)
    articles = []
    for i in range(36):
        outlet = OUTLETS[i % len(OUTLETS)]
        week = rng.randrange(6)
        if outlet == "Le Veilleur" and week == 3:
            week = 4
        published = FIRST_MONDAY + timedelta(weeks=week, days=rng.randrange(7), hours=rng.randrange(24))
        if i % 9 == 4:
            published = FIRST_MONDAY + timedelta(weeks=week, days=6, hours=23, minutes=30)
        articles.append(
            {
                "id": f"art-{i:02d}",
                "source": outlet,
                "published_at": None if i in (7, 20) else published,
                "text": f"Article {i} of {outlet}.\n\nA second paragraph, {rng.random():.6f}.",
            }
        )
    edited = {**articles[3], "text": articles[3]["text"] + " (edited)"}
    days = [articles[:12], articles[12:24], [*articles[24:], edited]]
    return [
        _write_run(root / f"day{n}", recs, datetime(2026, 11, 15 + n, 9, tzinfo=timezone.utc), rng)
        for n, recs in enumerate(days, 1)
    ]


def _write_run(run: Path, records: list[dict], scored_at: datetime, rng: random.Random) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    run.mkdir(parents=True)
    ts = pa.timestamp("ms", tz="UTC")
    rows, spans, paragraphs = [], [], []
    for rec in records:
        probs = {t: round(rng.random(), 4) for t in TECHNIQUES}
        row = {
            "id": rec["id"],
            "lang": "en",
            "model": "sample",
            "model_version": "0",
            "scored_at": scored_at,
            "n_chars": len(rec["text"]),
            "text_sha256": hashlib.sha256(rec["text"].encode()).hexdigest(),
            "source": rec["source"],
            "url": None,
            "title": None,
            "published_at": rec["published_at"],
        }
        row |= {f"score_{t}": (p if p >= 0.5 else 0.0) for t, p in probs.items()}
        row |= {f"prob_{t}": p for t, p in probs.items()}
        row |= {f"category_{c}": row[f"score_{t}"] for c, t in zip(CATEGORIES, TECHNIQUES)}
        row |= {
            "overall_score": max(row[f"score_{t}"] for t in TECHNIQUES),
            "profile": "balanced",
            "schema_version": "1.1",
        }
        found = [t for t, p in probs.items() if p >= 0.5]
        row["n_spans"] = len(found)
        rows.append(row)
        spans += [
            {
                "article_id": rec["id"],
                "technique": t,
                "category": CATEGORIES[TECHNIQUES.index(t)],
                "start": 0,
                "end": 7,
                "text": rec["text"][:7],
                "confidence": probs[t],
                "schema_version": "1.1",
            }
            for t in found
        ]
        for k, line in enumerate(rec["text"].split("\n\n")):
            start = rec["text"].index(line)
            paragraphs.append(
                {
                    "article_id": rec["id"],
                    "paragraph": k,
                    "start": start,
                    "end": start + len(line),
                    **{f"prob_{t}": probs[t] for t in TECHNIQUES},
                    "schema_version": "1.1",
                }
            )
    types = {"scored_at": ts, "published_at": ts, "url": pa.string(), "title": pa.string()}
    for name, table in (("articles", rows), ("spans", spans), ("paragraphs", paragraphs)):
        cols = {key: pa.array([r[key] for r in table], type=types.get(key)) for key in table[0]}
        pq.write_table(pa.table(cols), run / f"{name}.parquet")
    manifest = {"schema_version": "1.1", "techniques": list(TECHNIQUES), "categories": list(CATEGORIES)}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


def build_dataset(root: Path) -> Path:
    """The sample runs appended with framescope's own dataset code, as ``score --dataset`` does."""
    from framescope.inference.dataset import append_run

    dataset = root / "dataset"
    for run in sample_runs(root / "runs"):
        append_run(run, dataset)
    return dataset


def _framescope_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("framescope")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "framescope"]


def cli_has_views() -> bool:
    """Whether the installed framescope has ``dataset views`` (the shipped views file)."""
    try:
        done = subprocess.run([*_framescope_cmd(), "dataset", "views", "--help"], capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def write_views(dataset: Path, out: Path, how: str) -> str:
    """Write the views file for ``dataset``; returns which writer was used ("cli" or "stand-in")."""
    if how == "cli" or (how == "auto" and cli_has_views()):
        cmd = [*_framescope_cmd(), "dataset", "views", str(dataset), "--out", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-500:]
            raise CheckFailed(f"{' '.join(cmd[-5:])} exited {done.returncode}: {said}")
        return "cli"
    import duckdb

    con = duckdb.connect(str(out))
    try:
        for sql in standin_views(dataset):
            con.execute(sql)
    finally:
        con.close()
    return "stand-in"


def standin_views(dataset: Path) -> list[str]:
    """The four views of the views-file contract, for a dataset, until ``framescope dataset views`` ships.

    Latest version per id (newest ``scored_at``), outlet = ``source``, week = Monday of
    the ISO week of ``published_at`` in UTC whatever the session's zone (NULL when
    undated); per outlet, week and technique: articles, those with a calibrated
    probability of at least 0.5, their share, and the mean probability.
    """
    from framescope.inference.dataset import read_sql

    dataset = dataset.resolve()
    has_paragraphs = any((dataset / "paragraphs").glob("*/*.parquet"))  # the table is newer than the dataset
    paragraphs = (
        f"SELECT p.* FROM {read_sql(dataset, 'paragraphs')} p SEMI JOIN articles_latest a "
        "ON p.article_id = a.id AND p.text_sha256 = a.text_sha256"
        if has_paragraphs
        else "SELECT NULL::VARCHAR AS article_id, NULL::VARCHAR AS text_sha256, NULL::BIGINT AS paragraph WHERE false"
    )
    return [
        "CREATE OR REPLACE VIEW articles_latest AS "
        "SELECT *, source AS outlet, CAST(date_trunc('week', timezone('UTC', published_at)) AS DATE) AS week "
        f"FROM {read_sql(dataset, 'articles')} "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY scored_at DESC, text_sha256) = 1",
        f"CREATE OR REPLACE VIEW spans_latest AS SELECT s.* FROM {read_sql(dataset, 'spans')} s "
        "SEMI JOIN articles_latest a ON s.article_id = a.id AND s.text_sha256 = a.text_sha256",
        f"CREATE OR REPLACE VIEW paragraphs_latest AS {paragraphs}",
        "CREATE OR REPLACE VIEW outlet_week_technique AS "
        "WITH p AS (SELECT * FROM articles_latest UNPIVOT INCLUDE NULLS (prob FOR technique IN (COLUMNS('^prob_')))) "
        "SELECT COALESCE(outlet, '(no outlet)') AS outlet, week, replace(technique, 'prob_', '') AS technique, "
        "CAST(count(*) AS INTEGER) AS articles, "
        "CAST(count(*) FILTER (WHERE prob >= 0.5) AS INTEGER) AS articles_with_technique, "
        "count(*) FILTER (WHERE prob >= 0.5) / count(*) AS share, avg(prob) AS mean_prob "
        "FROM p GROUP BY ALL",
    ]


def check_views(db_file: Path) -> None:
    """The file has the four views and ``outlet_week_technique`` the contract's columns."""
    import duckdb

    con = duckdb.connect(str(db_file), read_only=True)
    try:
        names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        missing = [v for v in VIEWS if v not in names]
        if missing:
            raise CheckFailed(f"{db_file}: no view {', '.join(missing)}")
        cols = [d[0] for d in con.execute("SELECT * FROM outlet_week_technique LIMIT 0").description]
    finally:
        con.close()
    if [c for c in OWT_COLUMNS if c not in cols]:
        raise CheckFailed(f"{db_file}: outlet_week_technique has columns {cols}, not {list(OWT_COLUMNS)}")


def pick_technique(db_file: Path) -> str:
    """The technique with the most dated points above zero: the chart that shows the most."""
    import duckdb

    con = duckdb.connect(str(db_file), read_only=True)
    try:
        row = con.execute(
            "SELECT technique FROM outlet_week_technique WHERE week IS NOT NULL "
            "GROUP BY technique ORDER BY count(*) FILTER (WHERE share > 0) DESC, technique LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise CheckFailed(f"{db_file}: outlet_week_technique has no dated row")
    return row[0]


Points = dict[tuple[str, str], tuple[float, int]]  # (outlet, ISO date of the week) -> (share, articles)


def direct_points(db_file: Path, technique: str, outlet: str | None) -> Points:
    """What the chart must show, straight from the file with the duckdb package, in a UTC session."""
    import duckdb

    con = duckdb.connect(str(db_file), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        sql = (
            "SELECT outlet, week, sum(share), sum(articles) FROM outlet_week_technique "
            "WHERE technique = ? AND week IS NOT NULL" + (" AND outlet = ?" if outlet else "") + " GROUP BY ALL"
        )
        rows = con.execute(sql, [technique, outlet] if outlet else [technique]).fetchall()
    finally:
        con.close()
    return {(o, w.isoformat()): (float(s), int(n)) for o, w, s, n in rows}


# -- 2. a throw-away Superset -----------------------------------------------------------


def find_superset(explicit: str | None) -> str | None:
    """``--superset``, else ``$FRAMESCOPE_SUPERSET``, else ``superset`` on PATH; None when there is none."""
    name = explicit or os.environ.get("FRAMESCOPE_SUPERSET") or "superset"
    found = shutil.which(name)
    return str(Path(found).resolve()) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Superset:
    """One Superset in a temporary home: initialised, started on loopback, always stopped."""

    def __init__(self, exe: str, home: Path, server_tz: str, step_timeout_s: float = STEP_TIMEOUT_S) -> None:
        self.exe, self.home, self.server_tz, self.step_timeout_s = exe, home, server_tz, step_timeout_s
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.user, self.password = "admin", secrets.token_urlsafe(16)
        self.proc: subprocess.Popen | None = None
        self.log = home / "server.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env |= {
            "SUPERSET_HOME": str(self.home),
            "SUPERSET_CONFIG_PATH": str(self.home / "superset_config.py"),
            "TZ": self.server_tz,
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1",
            "no_proxy": "127.0.0.1",
        }
        return env

    def versions(self) -> dict[str, str]:
        """Superset's, duckdb-engine's and DuckDB's versions, read by the Python that runs Superset."""
        first = Path(self.exe).read_bytes()[:300].split(b"\n")[0]
        python = first[2:].decode().strip() if first.startswith(b"#!") else sys.executable
        code = (
            "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('apache-superset', 'duckdb-engine', 'duckdb')}))"
        )
        try:
            done = subprocess.run([*python.split(), "-c", code], capture_output=True, text=True, timeout=120)
            return json.loads(done.stdout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return {}

    def init(self) -> dict[str, float]:
        """Config, metadata database, admin user and roles; the seconds each step took."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "superset_config.py").write_text(
            f"SECRET_KEY = {secrets.token_urlsafe(42)!r}\n"
            f"SQLALCHEMY_DATABASE_URI = {'sqlite:///' + str(self.home / 'superset.db')!r}\n",
            encoding="utf-8",
        )
        steps = {
            "db upgrade": ["db", "upgrade"],
            "fab create-admin": [
                "fab",
                "create-admin",
                "--username",
                self.user,
                "--firstname",
                "Frame",
                "--lastname",
                "Scope",
                "--email",
                "admin@example.org",
                "--password",
                self.password,
            ],
            "init": ["init"],
        }
        times = {}
        for name, args in steps.items():
            start = time.perf_counter()
            with open(self.home / f"{name.replace(' ', '-')}.log", "wb") as log:
                try:
                    done = subprocess.run(
                        [self.exe, *args],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=self.env(),
                        cwd=self.home,
                        timeout=self.step_timeout_s,
                    )
                except subprocess.TimeoutExpired:
                    raise CheckFailed(f"superset {name} took over {self.step_timeout_s:.0f} s") from None
            if done.returncode != 0:
                raise CheckFailed(f"superset {name} exited {done.returncode}: {_tail(log.name)}")
            times[name] = time.perf_counter() - start
        return times

    def start(self, timeout_s: float) -> float:
        """``superset run`` on 127.0.0.1; the seconds until /health answered."""
        start = time.perf_counter()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [self.exe, "run", "-h", "127.0.0.1", "-p", str(self.port), "--with-threads"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.home,
                start_new_session=True,
            )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.perf_counter() - start < timeout_s:
            if self.proc.poll() is not None:
                raise CheckFailed(f"superset run exited {self.proc.returncode}: {_tail(self.log)}")
            try:
                with opener.open(f"{self.url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.5)
        raise CheckFailed(f"superset run did not answer /health in {timeout_s:.0f} s: {_tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _tail(path: Path | str, chars: int = 800) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(line for line in text[-chars:].splitlines() if line.strip())


# -- 3. the chart through the REST API -----------------------------------------------------


class Api:
    """Superset's REST API with a JWT and the CSRF token its write endpoints ask for."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(CookieJar())
        )
        self.headers = {"Referer": base}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = self.headers | ({"Content-Type": "application/json"} if data is not None else {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=300) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            said = err.read()[:600].decode(errors="replace")
            raise CheckFailed(f"{method} {path}: HTTP {err.code}: {said}") from None

    def login(self, user: str, password: str) -> None:
        token = self.call(
            "POST",
            "/api/v1/security/login",
            {"username": user, "password": password, "provider": "db", "refresh": True},
        )["access_token"]
        self.headers["Authorization"] = f"Bearer {token}"
        self.headers["X-CSRFToken"] = self.call("GET", "/api/v1/security/csrf_token/")["result"]


def duckdb_uri(db_file: Path) -> str:
    """The SQLAlchemy URI duckdb-engine opens read-only (so it never locks out the writer of the views)."""
    return f"duckdb:///{urllib.parse.quote(str(db_file.resolve()))}?access_mode=read_only"


def create_chart(api: Api, db_file: Path, technique: str, outlet: str | None) -> int:
    """Database, dataset on ``outlet_week_technique`` and a saved line chart; returns the chart's id."""
    database = api.call(
        "POST",
        "/api/v1/database/",
        {"database_name": "framescope", "sqlalchemy_uri": duckdb_uri(db_file), "expose_in_sqllab": True},
    )["id"]
    dataset = api.call(
        "POST", "/api/v1/dataset/", {"database": database, "schema": "main", "table_name": "outlet_week_technique"}
    )["id"]
    metrics = [
        {"expressionType": "SQL", "sqlExpression": "SUM(share)", "label": "share"},
        {"expressionType": "SQL", "sqlExpression": "SUM(articles)", "label": "articles"},
    ]
    filters = [("technique", "==", technique), ("week", "IS NOT NULL", None)]
    filters += [("outlet", "==", outlet)] if outlet else []
    form_data = {
        "viz_type": "echarts_timeseries_line",
        "datasource": f"{dataset}__table",
        "x_axis": "week",
        "time_grain_sqla": "P1W",
        "metrics": metrics,
        "groupby": ["outlet"],
        "row_limit": 10000,
        "adhoc_filters": [
            {
                "expressionType": "SIMPLE",
                "subject": c,
                "operator": op,
                "clause": "WHERE",
                **({"comparator": v} if v is not None else {}),
            }
            for c, op, v in filters
        ],
    }
    query = {
        "columns": [
            {
                "columnType": "BASE_AXIS",
                "sqlExpression": "week",
                "label": "week",
                "expressionType": "SQL",
                "timeGrain": "P1W",
            },
            "outlet",
        ],
        "metrics": metrics,
        "row_limit": 10000,
        "orderby": [[metrics[0], False]],
        "filters": [{"col": c, "op": op, **({"val": v} if v is not None else {})} for c, op, v in filters],
    }
    query_context = {
        "datasource": {"id": dataset, "type": "table"},
        "force": True,
        "queries": [query],
        "form_data": form_data,
        "result_format": "json",
        "result_type": "full",
    }
    return api.call(
        "POST",
        "/api/v1/chart/",
        {
            "slice_name": f"{technique}: share of articles per week",
            "viz_type": "echarts_timeseries_line",
            "datasource_id": dataset,
            "datasource_type": "table",
            "params": json.dumps(form_data),
            "query_context": json.dumps(query_context),
        },
    )["id"]


def chart_points(api: Api, chart: int) -> tuple[Points, str]:
    """The saved chart's data as Superset serves it to the chart, and the SQL it ran."""
    result = api.call("GET", f"/api/v1/chart/{chart}/data/?format=json&force=true")["result"][0]
    if result.get("error"):
        raise CheckFailed(f"chart {chart}: {result['error']}")
    points: Points = {}
    for row in result["data"]:
        week = datetime.fromtimestamp(row["week"] / 1000, tz=timezone.utc).date().isoformat()
        points[(row["outlet"], week)] = (float(row["share"]), int(row["articles"]))
    return points, result.get("query", "")


def compare(want: Points, got: Points) -> list[str]:
    """Every difference between the chart and DuckDB, one line each (empty when equal)."""
    problems = [f"{k}: in DuckDB, not in the chart" for k in sorted(want.keys() - got.keys())]
    problems += [f"{k}: in the chart, not in DuckDB" for k in sorted(got.keys() - want.keys())]
    for key in sorted(want.keys() & got.keys()):
        (ws, wn), (gs, gn) = want[key], got[key]
        if wn != gn or abs(ws - gs) > TOL * max(1.0, abs(ws)):
            problems.append(f"{key}: DuckDB share {ws!r} of {wn} articles, chart {gs!r} of {gn}")
    return problems


# -- the check ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--duckdb", type=Path, help="an existing DuckDB file with the views (else a sample is built)")
    src.add_argument("--dataset", type=Path, help="a framescope dataset folder to write the views file for")
    ap.add_argument(
        "--views",
        choices=("auto", "cli", "stand-in"),
        default="auto",
        help="who writes the views file: `framescope dataset views` (cli), this script (stand-in), "
        "or the CLI where it has the command (auto)",
    )
    ap.add_argument("--superset", help="the superset executable (default: $FRAMESCOPE_SUPERSET, else PATH)")
    ap.add_argument("--technique", help="the chart's technique (default: the one with most points above zero)")
    ap.add_argument("--outlet", help="chart one outlet only (default: a series per outlet)")
    ap.add_argument("--server-tz", default=SERVER_TZ, help="the server's TZ; the views must not depend on it")
    ap.add_argument("--start-timeout", type=float, default=300.0, help="seconds to wait for the server to answer")
    ap.add_argument(
        "--step-timeout",
        type=float,
        default=STEP_TIMEOUT_S,
        help="seconds each of `superset db upgrade`, `fab create-admin` and `init` may take",
    )
    ap.add_argument("--work", type=Path, help="keep the Superset home, logs and sample here (default: a temp folder)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    return ap.parse_args(argv)


def _sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(1)  # unwinds the finally blocks, so the server is stopped


def run_check(args: argparse.Namespace, exe: str, work: Path) -> dict[str, Any]:
    """Every step in order; raises CheckFailed with the first failure."""
    seconds: dict[str, float] = {}
    figures: dict[str, Any] = {"server_tz": args.server_tz, "seconds": seconds}
    db_file = args.duckdb
    if db_file is None:
        t0 = time.perf_counter()
        dataset = args.dataset or build_dataset(work)
        db_file = work / "framescope.duckdb"
        figures["views_written_by"] = write_views(dataset, db_file, args.views)
        seconds["dataset and views file"] = time.perf_counter() - t0
    db_file = db_file.resolve()
    check_views(db_file)
    technique = args.technique or pick_technique(db_file)
    want = direct_points(db_file, technique, args.outlet)
    if not want:
        where = f"technique {technique!r}" + (f", outlet {args.outlet!r}" if args.outlet else "")
        raise CheckFailed(f"no dated point for {where}")
    server = Superset(exe, work / "superset-home", args.server_tz, args.step_timeout)
    figures |= {
        "duckdb_file": str(db_file),
        "technique": technique,
        "outlet": args.outlet,
        "versions": server.versions(),
    }
    seconds |= server.init()
    try:
        seconds["start (until /health answers)"] = server.start(args.start_timeout)
        t0 = time.perf_counter()
        api = Api(server.url)
        api.login(server.user, server.password)
        chart = create_chart(api, db_file, technique, args.outlet)
        got, sql = chart_points(api, chart)
        seconds["REST API: login, database, dataset, chart, data"] = time.perf_counter() - t0
    finally:
        server.stop()
    figures |= {
        "chart_id": chart,
        "chart_sql": sql,
        "points": len(got),
        "outlets": len({o for o, _ in got}),
        "weeks": len({w for _, w in got}),
        "problems": compare(want, got),
    }
    return figures


def report(figures: dict[str, Any]) -> None:
    versions = ", ".join(f"{k} {v}" for k, v in figures.get("versions", {}).items())
    views = figures.get("views_written_by", "the given file")
    print(f"BI server: {versions}; server TZ {figures['server_tz']}; views by {views}")
    for step, secs in figures.get("seconds", {}).items():
        print(f"  {step:<48} {secs:6.1f} s")
    print(
        f"chart {figures['chart_id']} ({figures['technique']}): {figures['points']} points, "
        f"{figures['outlets']} outlets, {figures['weeks']} weeks"
    )
    print("Superset ran: " + " ".join(figures["chart_sql"].split()))
    for line in figures["problems"]:
        print("  MISMATCH " + line)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exe = find_superset(args.superset)
    if exe is None:
        print(
            "skipped: no Superset (set FRAMESCOPE_SUPERSET to its `superset` executable, "
            'or put it on PATH; docs/monitoring.md, "BI servers", installs one)'
        )
        return 0
    signal.signal(signal.SIGTERM, _sigterm)
    with _workdir(args.work) as work:
        try:
            figures = run_check(args, exe, work)
        except CheckFailed as err:
            print(f"FAILED: {err}", file=sys.stderr)
            return 1
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    ok = not figures["problems"]
    print("OK: the chart's numbers equal DuckDB's" if ok else f"FAILED: {len(figures['problems'])} points differ")
    return 0 if ok else 1


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        if keep.exists() and any(keep.iterdir()):
            raise SystemExit(f"error: --work {keep} is not empty (it gets a new Superset home and sample)")
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="framescope-bi-") as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    sys.exit(main())
