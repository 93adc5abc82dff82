"""The report of a dataset (``framescope report --dataset``): the latest version of every article.

Read through the shared views (:mod:`framescope.inference.views`), so the report has
exactly the articles the dashboard counts and links to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framescope.model.result import ArticleResult, result_from_rows


def dataset_results(dataset: Path | str) -> tuple[list[ArticleResult], dict[str, dict[str, Any]]]:
    """The latest version of every article of a dataset, with its spans, paragraphs, text and metadata.

    Read through the shared views (:mod:`framescope.inference.views`), so the report has
    exactly the articles the dashboard counts and links to (page names hash the id).
    """
    from framescope.inference import views
    from framescope.inference.dataset import is_dataset

    if not is_dataset(dataset):
        raise ValueError(f"{dataset}: not a dataset (no dataset.json)")
    con, info = views.connect(dataset)
    try:

        def rows(sql: str) -> list[dict[str, Any]]:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

        arts = rows("SELECT * FROM articles_latest ORDER BY id")
        spans = rows('SELECT * FROM spans_latest ORDER BY article_id, start, "end", technique')
        paras = rows("SELECT * FROM paragraphs_latest ORDER BY article_id, paragraph")
        texts = {r["article_id"]: r["text"] for r in rows("SELECT article_id, text FROM texts_latest")}
    finally:
        con.close()
    by_id: dict[str, list] = {}
    for s in spans:
        by_id.setdefault(s["article_id"], []).append(s)
    paras_of: dict[str, list] = {}
    for p in paras:
        paras_of.setdefault(p["article_id"], []).append(p)
    items, meta = [], {}
    for a in arts:
        items.append(
            result_from_rows(
                a,
                by_id.get(a["id"], []),
                paras_of.get(a["id"], []),
                texts.get(a["id"]) or "",
                info["techniques"],
                info["categories"],
            )
        )
        meta[a["id"]] = {
            "title": a.get("title"),
            "source": a.get("outlet"),
            "url": a.get("url"),
            "published_at": a["published_date"].isoformat() if a.get("published_date") else None,
        }
    return items, meta
