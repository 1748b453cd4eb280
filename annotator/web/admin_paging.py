"""The admin's change lists over big tables (faces, answers, suggestions, flags): counts that stop.

Django's change list counts the rows it lists (filtered) on every page view, to number its pages; over
a million faces that COUNT(*) reads the whole table. BigTableAdmin never counts the unfiltered table
(show_full_result_count = False), and says how many rows a list holds in one of three ways:

- "N faces": counted exactly, up to ADMIN_COUNT_CAP (a LIMIT inside the count, so the database stops
  there). Every list on SQLite, and on a table PostgreSQL's statistics put under ADMIN_ESTIMATE_ABOVE
  rows, or whose list PostgreSQL expects to hold at most ADMIN_COUNT_CAP rows.
- "more than N faces": that count stopped at the cap.
- "about N faces (PostgreSQL's estimate)": on PostgreSQL, for a table of ADMIN_ESTIMATE_ABOVE rows or
  more, when the planner expects the list (filtered or not) to hold more than ADMIN_COUNT_CAP rows.
  The figure is the planner's row estimate for the list's query (an EXPLAIN, no row read), rounded to
  two figures: from a sample of the table taken by ANALYZE, with multi-column statistics on each
  list's filter columns (migrations annotator 0024, reviews 0010) for filters used together, so it
  can be off, mostly for a table changed much since its last ANALYZE. A capped count of such a list
  reads more as the table grows: at a million faces, the split + category filter's read 120,000
  index entries (18 ms) where 10,000 faces' read 44 rows. When the page shown is not full, the list's
  end is in sight and the exact count replaces the estimate.

Either way the pages reach no further than ADMIN_COUNT_CAP rows (20 pages of 50): rows past them are
reached by narrowing the list with a filter or a search. Its lists are ordered by the primary key (an
index), and searches go through exact, indexed lookups (search_terms_q).
"""
import json

from django.contrib.admin import ShowFacets
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.utils.functional import cached_property

# 1,000 (20 pages of 50): a filter that matches 1 row in 80 finds its 1,001st within 80,000 rows; at 10,000 the
# count read 800,000 of a million faces, and a filtered list grew 1.5-1.65x from 10K to 1M faces (bench_reads).
ADMIN_COUNT_CAP = 1_000

# Below this many rows (PostgreSQL's pg_class.reltuples) a capped count reads little enough that its exact
# figure is worth it; a table without statistics yet (never analyzed) is counted too.
ADMIN_ESTIMATE_ABOVE = 100_000


class CappedCountPaginator(Paginator):
    """A paginator whose count stops at ADMIN_COUNT_CAP (`capped` says the list holds more), or, on a
    big PostgreSQL table, takes the planner's estimate instead (`estimated` holds it); see the module's
    docstring. `count` is at most the cap, so the pages reach no further."""

    cap = ADMIN_COUNT_CAP
    estimate_above = ADMIN_ESTIMATE_ABOVE
    capped = False
    estimated = None

    @cached_property
    def count(self):
        estimate = self._planner_estimate()
        if estimate is not None and estimate > self.cap:
            self.capped, self.estimated = True, int(float(f"{estimate:.2g}"))  # two figures: it is no count
            return self.cap
        # A sliced queryset counts as SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1): the scan stops at the cap.
        n = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = n > self.cap
        return min(n, self.cap)

    def _planner_estimate(self):
        """PostgreSQL's estimate of the rows listed, or None (another database, a small table, or one
        without statistics)."""
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table])
            row = cursor.fetchone()
        if row is None or row[0] < self.estimate_above:
            return None
        plan = json.loads(queryset.order_by().explain(format="json"))
        return int(plan[0]["Plan"]["Plan Rows"])

    def settle(self, exact: int):
        """Replace an estimate with the exact count (the list's end was seen on a page that was not full)."""
        for name in ("count", "num_pages", "page_range"):
            self.__dict__.pop(name, None)
        self.__dict__["count"] = exact
        self.capped, self.estimated = False, None


class BigTableChangeList(ChangeList):
    """Django's change list, which swaps the planner's estimate for the exact count when the page shown
    is short (its rows were read anyway): an estimate of correlated filters that matches a handful of
    faces, or none, is not shown."""

    def get_results(self, request):
        super().get_results(request)
        paginator = self.paginator
        if paginator.estimated is None or not self.multi_page:
            return
        shown = len(self.result_list)  # reads the page: the template lists these same rows
        if self.show_all and self.can_show_all:
            exact = shown  # "Show all" listed every row
        elif shown == self.list_per_page or (shown == 0 and self.page_num > 1):
            return  # the end is further on, or behind us: the estimate stays
        else:
            exact = (self.page_num - 1) * self.list_per_page + shown
        paginator.settle(exact)
        self.result_count = exact
        self.multi_page = exact > self.list_per_page
        self.can_show_all = exact <= self.list_max_show_all


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
    """A mixin (before ModelAdmin or SimpleHistoryAdmin) for a table of a million rows: capped counts or
    PostgreSQL's estimate (see the module's docstring), no full count, newest first by id, and a search box that takes only what an index answers (see
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

    def get_changelist(self, request, **kwargs):
        return BigTableChangeList

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
