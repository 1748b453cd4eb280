"""The admin's change lists over big tables (faces, answers, suggestions, flags): counts that stop.

Django's change list counts the rows it lists (filtered) on every page view, to number its pages; over
a million faces that COUNT(*) reads the whole table. BigTableAdmin counts up to ADMIN_COUNT_CAP rows
(a LIMIT inside the count, so the database stops there), says "more than N" when it stopped, and never
counts the unfiltered table (show_full_result_count = False). Its lists are ordered by the primary key
(an index), and searches go through exact, indexed lookups (search_terms_q).
"""
from django.contrib.admin import ShowFacets
from django.core.paginator import Paginator
from django.db.models import Q
from django.utils.functional import cached_property

# 1,000 (20 pages of 50): a filter that matches 1 row in 80 finds its 1,001st within 80,000 rows; at 10,000 the
# count read 800,000 of a million faces, and a filtered list grew 1.5-1.65x from 10K to 1M faces (bench_reads).
ADMIN_COUNT_CAP = 1_000


class CappedCountPaginator(Paginator):
    """A paginator whose count stops at ADMIN_COUNT_CAP (`capped` says it did): pages past the cap are
    reached by narrowing the list with a filter or a search."""

    cap = ADMIN_COUNT_CAP

    @cached_property
    def count(self):
        # A sliced queryset counts as SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1): the scan stops at the cap.
        n = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = n > self.cap
        return min(n, self.cap)

    capped = False




def search_terms_q(term: str, *, id_fields=(), exact_fields=(), prefix_fields=(), hex_length=None) -> Q:
    """Return the Q for an admin search term that the table's indexes answer: a number matches the
    `id_fields` exactly; a hex digest of `hex_length` characters matches `exact_fields`; anything else
    matches the start of `prefix_fields` (case-sensitive, so that a btree index serves it). Never
    a "contains" scan over a million rows."""
    term = term.strip()
    if term.isdigit() and len(term) < 19:
        pairs = [(field, int(term)) for field in id_fields]
    elif hex_length and len(term) == hex_length and all(c in "0123456789abcdef" for c in term.lower()):
        pairs = [(field, term.lower()) for field in exact_fields]
    else:
        pairs = [(f"{field}__startswith", term) for field in prefix_fields]
    q = Q(pk__in=[])  # matches nothing: a term no field takes finds no row
    for lookup, value in pairs:
        q |= Q(**{lookup: value})
    return q


class BigTableAdmin:
    """A mixin (before ModelAdmin or SimpleHistoryAdmin) for a table of a million rows: capped counts,
    no full count, newest first by id, and a search box that takes only what an index answers (see
    search_terms_q: subclasses name the fields in search_id_fields, search_exact_fields with
    search_hex_length, and search_prefix_fields)."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER  # a count per filter choice is a pass over the table each
    ordering = ("-id",)
    list_per_page = 50
    search_id_fields = ()
    search_exact_fields = ()
    search_hex_length = None
    search_prefix_fields = ()

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(search_terms_q(
            search_term, id_fields=self.search_id_fields, exact_fields=self.search_exact_fields,
            prefix_fields=self.search_prefix_fields, hex_length=self.search_hex_length)), False


def figures_cached(key: str, compute) -> tuple:
    """Return (compute(), when it was computed), kept in the cache for DASHBOARD_CACHE_SECONDS: figures
    that aggregate over every face (a second or more at a million) are not recomputed on every view of
    an admin list; the list says how old they are."""
    from django.conf import settings
    from django.core.cache import cache
    from django.utils import timezone

    kept = cache.get(f"admin:figures:{key}")
    if kept is None:
        kept = (compute(), timezone.now())
        cache.set(f"admin:figures:{key}", kept, settings.DASHBOARD_CACHE_SECONDS)
    return kept


def per_row(figures: dict, name: str, *, field: str = "pk"):
    """Return an expression giving each row its figure from `figures` ({row pk: {name: value}}), so that
    kept figures still sort in the admin list (a CASE over a handful of rows, e.g. projects)."""
    from django.db.models import Case, IntegerField, Value, When

    whens = [When(**{field: pk}, then=Value(row[name])) for pk, row in figures.items()]
    return Case(*whens, default=Value(0), output_field=IntegerField()) if whens else Value(0, output_field=IntegerField())
