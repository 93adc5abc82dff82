"""Taxonomy and annotation data model: what techniques exist and where they were annotated."""

from framescope.labels.document import AnnotationError, Document, Location, Problem, Span
from framescope.labels.io import read_documents, read_with_problems, write_documents
from framescope.labels.taxonomy import Taxonomy, TaxonomyIdentity, load_taxonomy
from framescope.labels.validate import validate

__all__ = [
    "AnnotationError",
    "Document",
    "Location",
    "Problem",
    "Span",
    "Taxonomy",
    "TaxonomyIdentity",
    "load_taxonomy",
    "read_documents",
    "read_with_problems",
    "validate",
    "write_documents",
]
