"""The shipped taxonomies (semeval2023, semeval2023-categories, ptc2020) and user taxonomy files."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from framescope.labels import Taxonomy, load_taxonomy
from framescope.labels.taxonomy import builtin_taxonomies

REPO = Path(__file__).resolve().parents[1]
TAXONOMY_DIR = REPO / "labels" / "taxonomies"
SHARED_DATA = Path(os.environ.get("FRAMESCOPE_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")

BUILTINS = ["semeval2023", "semeval2023-categories", "ptc2020"]

SEMEVAL2023 = [
    "Appeal_to_Authority",
    "Appeal_to_Fear-Prejudice",
    "Appeal_to_Hypocrisy",
    "Appeal_to_Popularity",
    "Appeal_to_Time",
    "Appeal_to_Values",
    "Causal_Oversimplification",
    "Consequential_Oversimplification",
    "Conversation_Killer",
    "Doubt",
    "Exaggeration-Minimisation",
    "False_Dilemma-No_Choice",
    "Flag_Waving",
    "Guilt_by_Association",
    "Loaded_Language",
    "Name_Calling-Labeling",
    "Obfuscation-Vagueness-Confusion",
    "Questioning_the_Reputation",
    "Red_Herring",
    "Repetition",
    "Slogans",
    "Straw_Man",
    "Whataboutism",
]

# Piskorski et al. (2023), SemEval-2023 Task 3: the six categories and their techniques.
CATEGORIES = {
    "attack_on_reputation": {
        "Name_Calling-Labeling",
        "Guilt_by_Association",
        "Doubt",
        "Appeal_to_Hypocrisy",
        "Questioning_the_Reputation",
    },
    "justification": {
        "Flag_Waving",
        "Appeal_to_Authority",
        "Appeal_to_Popularity",
        "Appeal_to_Values",
        "Appeal_to_Fear-Prejudice",
    },
    "simplification": {
        "Causal_Oversimplification",
        "False_Dilemma-No_Choice",
        "Consequential_Oversimplification",
    },
    "distraction": {"Straw_Man", "Red_Herring", "Whataboutism"},
    "call": {"Slogans", "Conversation_Killer", "Appeal_to_Time"},
    "manipulative_wording": {
        "Loaded_Language",
        "Obfuscation-Vagueness-Confusion",
        "Exaggeration-Minimisation",
        "Repetition",
    },
}

CATEGORY_LABELS = {
    "attack_on_reputation": "Attack_on_Reputation",
    "justification": "Justification",
    "simplification": "Simplification",
    "distraction": "Distraction",
    "call": "Call",
    "manipulative_wording": "Manipulative_Wording",
}

# SemEval-2020 Task 11 (PTC) classes as spelled in the label files -> SemEval-2023.
PTC2020 = {
    "Appeal_to_Authority": "Appeal_to_Authority",
    "Appeal_to_fear-prejudice": "Appeal_to_Fear-Prejudice",
    "Bandwagon,Reductio_ad_hitlerum": None,
    "Black-and-White_Fallacy": "False_Dilemma-No_Choice",
    "Causal_Oversimplification": "Causal_Oversimplification",
    "Doubt": "Doubt",
    "Exaggeration,Minimisation": "Exaggeration-Minimisation",
    "Flag-Waving": "Flag_Waving",
    "Loaded_Language": "Loaded_Language",
    "Name_Calling,Labeling": "Name_Calling-Labeling",
    "Repetition": "Repetition",
    "Slogans": "Slogans",
    "Thought-terminating_Cliches": "Conversation_Killer",
    "Whataboutism,Straw_Men,Red_Herring": None,
}

# SemEval-2021 Task 6 techniques as spelled in its data -> SemEval-2023.
SEMEVAL2021 = {
    "Appeal to authority": "Appeal_to_Authority",
    "Appeal to fear/prejudice": "Appeal_to_Fear-Prejudice",
    "Bandwagon": "Appeal_to_Popularity",
    "Black-and-white Fallacy/Dictatorship": "False_Dilemma-No_Choice",
    "Causal Oversimplification": "Causal_Oversimplification",
    "Doubt": "Doubt",
    "Exaggeration/Minimisation": "Exaggeration-Minimisation",
    "Flag-waving": "Flag_Waving",
    "Glittering generalities (Virtue)": "Appeal_to_Values",
    "Loaded Language": "Loaded_Language",
    "Misrepresentation of Someone's Position (Straw Man)": "Straw_Man",
    "Name calling/Labeling": "Name_Calling-Labeling",
    "Obfuscation, Intentional vagueness, Confusion": "Obfuscation-Vagueness-Confusion",
    "Presenting Irrelevant Data (Red Herring)": "Red_Herring",
    "Reductio ad hitlerum": "Guilt_by_Association",
    "Repetition": "Repetition",
    "Slogans": "Slogans",
    "Smears": "Questioning_the_Reputation",
    "Thought-terminating cliché": "Conversation_Killer",
    "Whataboutism": "Whataboutism",
    "Transfer": None,
    "Appeal to (Strong) Emotions": None,
}


def _raw(name: str) -> dict:
    return yaml.safe_load((TAXONOMY_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


# -- the shipped files ------------------------------------------------------------------


def test_builtins_are_listed():
    assert set(BUILTINS) <= set(builtin_taxonomies())


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_loads(name):
    tax = load_taxonomy(name)
    assert isinstance(tax, Taxonomy)
    assert tax.name == name
    assert re.fullmatch(r"\d+\.\d+\.\d+", tax.version)
    assert tax.description
    assert len(tax) > 0
    assert load_taxonomy(TAXONOMY_DIR / f"{name}.yaml").names == tax.names


def test_default_is_semeval2023():
    assert load_taxonomy().name == "semeval2023"
    assert load_taxonomy(None) is load_taxonomy("semeval2023")


def test_semeval2023_techniques_in_order():
    assert load_taxonomy("semeval2023").names == SEMEVAL2023


def test_semeval2023_categories():
    tax = load_taxonomy("semeval2023")
    assert list(tax.categories) == list(CATEGORIES)
    for cid, cat in tax.categories.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cid)
        assert cat.get("name") and cat.get("description")
    got = {cid: {t.name for t in tax.techniques if t.category == cid} for cid in tax.categories}
    assert got == CATEGORIES
    assert sum(len(v) for v in got.values()) == 23


@pytest.mark.parametrize("technique", SEMEVAL2023)
def test_semeval2023_definition_and_examples(technique):
    tax = load_taxonomy("semeval2023")
    t = tax.techniques[tax.index(technique)]
    assert len(t.definition.split()) >= 8
    for lang in ("en", "de"):
        examples = t.examples.get(lang)
        assert examples, f"{technique}: no {lang} example"
        assert all(isinstance(e, str) and len(e.split()) >= 3 for e in examples)


def test_categories_taxonomy():
    cats = load_taxonomy("semeval2023-categories")
    assert cats.names == list(CATEGORY_LABELS.values())
    for t in cats.techniques:
        assert t.category == t.name
        assert t.definition
    # every SemEval-2023 technique and category id lands on its category
    for cid, members in CATEGORIES.items():
        assert cats.resolve(cid) == CATEGORY_LABELS[cid]
        for name in members:
            assert cats.resolve(name) == CATEGORY_LABELS[cid]


def test_categories_taxonomy_agrees_with_techniques():
    """An alias known to semeval2023 maps to the category of its technique there."""
    tech = load_taxonomy("semeval2023")
    cats = load_taxonomy("semeval2023-categories")
    for a in tech.aliases:
        if a.target is not None:
            assert cats.resolve(a.alias) == cats.resolve(tech.category_of(a.target)), a.alias
        else:
            assert cats.is_known(a.alias), a.alias
    # dropped at technique level but one whole category: the merged distraction class
    assert cats.resolve("Whataboutism,Straw_Men,Red_Herring") == "Distraction"
    # its parts straddle two categories
    assert cats.resolve("Bandwagon,Reductio_ad_hitlerum") is None


def test_ptc2020_taxonomy():
    ptc = load_taxonomy("ptc2020")
    assert ptc.names == list(PTC2020)
    for t in ptc.techniques:
        assert t.definition
        assert t.category == t.name


# -- aliases ----------------------------------------------------------------------------


@pytest.mark.parametrize("label,expected", sorted(PTC2020.items()))
def test_ptc2020_labels_resolve(label, expected):
    tax = load_taxonomy("semeval2023")
    assert tax.is_known(label)
    assert tax.resolve(label) == expected


@pytest.mark.parametrize("label,expected", sorted(SEMEVAL2021.items()))
def test_semeval2021_labels_resolve(label, expected):
    tax = load_taxonomy("semeval2023")
    assert tax.is_known(label)
    assert tax.resolve(label) == expected


def test_comma_merged_classes_are_never_split():
    tax = load_taxonomy("semeval2023")
    assert tax.resolve("Name_Calling,Labeling") == "Name_Calling-Labeling"
    assert tax.resolve("Exaggeration,Minimisation") == "Exaggeration-Minimisation"
    assert tax.resolve("Whataboutism,Straw_Men,Red_Herring") is None
    assert tax.resolve("Bandwagon,Reductio_ad_hitlerum") is None
    assert tax.resolve("Obfuscation, Intentional vagueness, Confusion") == ("Obfuscation-Vagueness-Confusion")
    # the pieces are not labels of their own: nothing split the merged names
    for piece in ("Name_Calling", "Labeling", "Minimisation", "Straw_Men", "Reductio_ad_hitlerum"):
        assert not tax.is_known(piece)
        with pytest.raises(KeyError):
            tax.resolve(piece)
    # whole merged names only, never a prefix or a re-ordering
    for label in ("Whataboutism,Straw_Men", "Labeling,Name_Calling", "Name_Calling, Labeling"):
        assert not tax.is_known(label)


def test_unknown_label_raises_keyerror():
    tax = load_taxonomy("semeval2023")
    assert "Loaded_Language" in tax
    assert "Not_A_Technique" not in tax
    with pytest.raises(KeyError):
        tax.resolve("Not_A_Technique")
    with pytest.raises(KeyError):
        tax.resolve("loaded_language")  # spellings are exact


@pytest.mark.parametrize("name", BUILTINS)
def test_alias_entries_are_well_formed(name):
    raw = _raw(name)
    tax = load_taxonomy(name)
    aliases = [a["alias"] for a in raw.get("aliases") or []]
    dupes = [a for a, n in Counter(aliases).items() if n > 1]
    assert not dupes, f"aliases listed twice: {dupes}"
    for a in tax.aliases:
        assert a.alias not in tax.names, f"{a.alias!r} is a technique name, not an alias"
        assert a.source, a.alias
        if a.source != "semeval2023":
            assert a.note, f"{a.alias!r} needs a note saying why"
    for entry in raw.get("aliases") or []:
        assert "target" in entry, f"{entry['alias']!r}: write target: null to drop a label"


@pytest.mark.parametrize("name", BUILTINS)
def test_examples_are_lists_of_strings(name):
    for t in _raw(name)["techniques"]:
        for lang, examples in (t.get("examples") or {}).items():
            assert isinstance(examples, list), f"{t['name']}/{lang}: examples must be a list"
            assert all(isinstance(e, str) for e in examples)


# -- identity ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTINS)
def test_identity_is_stable(name, tmp_path):
    ident = load_taxonomy(name).identity
    assert ident.name == name
    assert re.fullmatch(r"[0-9a-f]{64}", ident.sha256)
    assert load_taxonomy(name).identity == ident
    # the same content from a copy on disk, or through to_dict, has the same identity
    copy = tmp_path / "copy.yaml"
    copy.write_text((TAXONOMY_DIR / f"{name}.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_taxonomy(copy).identity == ident
    assert Taxonomy(load_taxonomy(name).to_dict()).identity == ident
    # comments and key order are not content
    shuffled = tmp_path / "shuffled.yaml"
    data = _raw(name)
    shuffled.write_text(
        "# a comment\n" + yaml.safe_dump(dict(reversed(list(data.items()))), allow_unicode=True),
        encoding="utf-8",
    )
    assert load_taxonomy(shuffled).identity == ident
    assert ident.to_dict() == {"name": name, "version": ident.version, "sha256": ident.sha256}
    assert str(ident).startswith(f"{name}@{ident.version} (")


def test_identity_changes_with_content(tmp_path):
    base = load_taxonomy("semeval2023")
    variants = {}
    data = base.to_dict()
    data["techniques"][0]["definition"] += " Edited."
    variants["definition"] = data
    data = base.to_dict()
    data["version"] = "1.0.1"
    variants["version"] = data
    data = base.to_dict()
    data["aliases"][0]["target"] = None
    variants["alias"] = data
    data = base.to_dict()
    data["techniques"][0], data["techniques"][1] = data["techniques"][1], data["techniques"][0]
    variants["order"] = data
    seen = {base.identity.sha256}
    for what, data in variants.items():
        path = tmp_path / f"{what}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        sha = load_taxonomy(path).identity.sha256
        assert sha not in seen, f"changing the {what} did not change the identity"
        seen.add(sha)


def test_identity_of_unquoted_date_version(tmp_path):
    path = tmp_path / "dated.yaml"
    path.write_text("name: dated\nversion: 2024-05-01\ntechniques:\n  - name: A\n")
    tax = load_taxonomy(path)
    assert tax.version == "2024-05-01"
    assert re.fullmatch(r"[0-9a-f]{64}", tax.identity.sha256)
    assert tax.to_dict()["version"] == "2024-05-01"


def test_docs_list_current_identities():
    """docs/taxonomy.md states each shipped identity; edit it when a taxonomy changes."""
    doc = REPO / "docs" / "taxonomy.md"
    if not doc.exists():
        pytest.skip("docs/taxonomy.md not present")
    text = doc.read_text(encoding="utf-8")
    for name in BUILTINS:
        ident = load_taxonomy(name).identity
        assert ident.sha256 in text, f"docs/taxonomy.md: stale or missing identity of {name}"


# -- the research corpora (../shared/data) ----------------------------------------------


def _corpus_labels(pattern: str) -> Counter:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set FRAMESCOPE_SHARED_DATA)")
    files = sorted(p for p in SHARED_DATA.glob(pattern) if p.is_file())
    if not files:
        pytest.skip(f"no files matching {pattern} under {SHARED_DATA}")
    labels: Counter = Counter()
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                labels[line.split("\t")[1]] += 1
    return labels


@pytest.mark.shared
def test_every_ptc2020_label_resolves():
    labels = _corpus_labels("ptc2020/*.labels")
    assert set(labels) == set(PTC2020)
    tech = load_taxonomy("semeval2023")
    cats = load_taxonomy("semeval2023-categories")
    ptc = load_taxonomy("ptc2020")
    for label in labels:
        assert label in ptc.names
        assert tech.resolve(label) == PTC2020[label]
        assert cats.is_known(label)


@pytest.mark.shared
def test_every_semeval2023_label_resolves():
    labels = _corpus_labels("semeval2023/*/*-labels-subtask-3-spans/*")
    tech = load_taxonomy("semeval2023")
    cats = load_taxonomy("semeval2023-categories")
    assert set(labels) <= set(SEMEVAL2023)
    for label in labels:
        assert tech.resolve(label) == label
        assert cats.resolve(label) == cats.resolve(tech.category_of(label))


# -- user taxonomies --------------------------------------------------------------------


def test_user_taxonomy_with_fewer_labels(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        """
name: mine
version: "0.1.0"
categories:
  - id: attack
    name: Attack
  - id: wording
    name: Wording
techniques:
  - name: Name_Calling-Labeling
    category: attack
  - name: Doubt
    category: attack
  - name: Loaded_Language
    category: wording
aliases:
  - alias: "Name_Calling,Labeling"
    source: ptc2020
    target: Name_Calling-Labeling
  - alias: "Exaggeration-Minimisation"
    source: semeval2023
    target: null
    note: not annotated in this project
""",
        encoding="utf-8",
    )
    tax = load_taxonomy(path)
    assert tax.names == ["Name_Calling-Labeling", "Doubt", "Loaded_Language"]
    assert tax.category_of("Doubt") == "attack"
    assert tax.resolve("Name_Calling,Labeling") == "Name_Calling-Labeling"
    assert tax.resolve("Exaggeration-Minimisation") is None
    with pytest.raises(KeyError):
        tax.resolve("Slogans")
    assert tax.identity.name == "mine"
    assert tax.identity != load_taxonomy("semeval2023").identity


def test_user_taxonomy_minimal(tmp_path):
    """Only name, version and technique names are required; category defaults to the name."""
    path = tmp_path / "tiny.yaml"
    path.write_text('name: tiny\nversion: "1"\ntechniques:\n  - name: Spin\n  - name: Fear\n')
    tax = load_taxonomy(str(path))
    assert tax.names == ["Spin", "Fear"]
    assert tax.category_of("Spin") == "Spin"
    assert tax.aliases == []


def test_user_taxonomy_save_roundtrip(tmp_path):
    tax = load_taxonomy("semeval2023-categories")
    path = tmp_path / "saved.yaml"
    tax.save(path)
    assert load_taxonomy(path).identity == tax.identity


MALFORMED = {
    "not_yaml": "name: x\nversion: [1\n",
    "not_a_mapping": "- name: x\n",
    "empty": "",
    "no_techniques": 'name: x\nversion: "1"\n',
    "no_name": 'version: "1"\ntechniques:\n  - name: A\n',
    "technique_without_name": 'name: x\nversion: "1"\ntechniques:\n  - category: a\n',
    "techniques_not_a_list": 'name: x\nversion: "1"\ntechniques: 3\n',
    "examples_not_a_mapping": ('name: x\nversion: "1"\ntechniques:\n  - name: A\n    examples: ["an example"]\n'),
    "duplicate_technique": 'name: x\nversion: "1"\ntechniques:\n  - name: A\n  - name: A\n',
    "unknown_category": ('name: x\nversion: "1"\ncategories:\n  - id: c\ntechniques:\n  - name: A\n    category: d\n'),
    "alias_to_unknown": ('name: x\nversion: "1"\ntechniques:\n  - name: A\naliases:\n  - alias: B\n    target: C\n'),
    "alias_without_alias": ('name: x\nversion: "1"\ntechniques:\n  - name: A\naliases:\n  - target: A\n'),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_taxonomy_names_the_file(case, tmp_path):
    path = tmp_path / f"{case}.yaml"
    path.write_text(MALFORMED[case], encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_taxonomy(path)
    assert str(path) in str(info.value)


def test_unknown_taxonomy_name(tmp_path):
    with pytest.raises(ValueError, match="unknown taxonomy"):
        load_taxonomy("semeval2099")
    with pytest.raises(ValueError, match="semeval2023"):
        load_taxonomy(tmp_path / "missing.yaml")
