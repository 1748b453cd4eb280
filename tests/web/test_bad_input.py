"""Bad input to every write endpoint (and to the GET endpoints that take parameters): each kind is
refused with a 4xx and a message (JSON naming the field or saying what is wrong; never an HTML page
under /api/), none is a 500, and none stores anything.

Organised as data:
- BODY_KINDS: whole-body kinds (not JSON, wrong top-level types, deep nesting, bad encodings, wrong
  content types, ...), sent to every JSON endpoint;
- per field type value tables (INTEGER, NUMBER, UNIT, SECONDS, BOOLEAN, UUID, CHOICE, ID_LIST), put
  into a valid baseline body one field at a time, so the bad value is the only thing wrong;
- per endpoint SPECIAL kinds (states and combinations: no claim, a key reused, a point outside the
  circle, an answer of another face, ...), PATH_IDS for ids in the URL and QUERY tables for filters.

Baseline (the `world` fixture): an annotator holds a live claim on a face, taken through
/api/queue/next/ as the page does (GOLD_SHARE = BLIND_SHARE = 0); the face has a suggestion from the
active suggester; the annotator has an earlier answer (for PATCH); a reviewer and an admin. Each
endpoint test first shows its baseline body accepted and storing something (the positive control),
then sends every kind. Each kind runs in a savepoint that is rolled back afterwards, so one bad
input never changes what the next one meets; the rows of every annotator_* and reviews_* table
(claims, historical tables included) are compared before and after it.

Requests per test and user stay well below the 600 a minute DRF throttle of the other branch
(the cache, and so the throttle counts, is emptied before each test).
"""
import gzip
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import quote, urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.test import Client

from annotator.models import MAX_ID, Annotation, Face, Suggester, Suggestion
from tests.conftest import install_default_guidelines, make_user
from tests.console.jobs_helpers import jobs_inline  # noqa: F401  (fixture)
from tests.project_helpers import activate, set_policy
from tests.queue.test_queue import NEXT, RELEASE, SUBMIT, make_face

# --------------------------------------------------------------------------------------------------
# How a bad value is written into a body


class Raw(bytes):
    """JSON text written into the body as it stands (what json.dumps cannot or will not write)."""


MISSING = object()  # the field is left out
FIELD = "<the field>"  # Bad.names: the error must name the field the value was put in


@dataclass(frozen=True)
class Bad:
    label: str
    value: object  # a JSON value, a Raw text, MISSING, or a callable(world) giving one of those
    status: tuple = (400,)
    names: Optional[str] = FIELD  # FIELD, another name the error must mention, or None (any message)


def render(value) -> bytes:
    """JSON bytes of a body that may hold Raw texts anywhere."""
    raws = {}

    def swap(v):
        if isinstance(v, Raw):
            key = f"@@raw{len(raws)}@@"
            raws[key] = bytes(v)
            return key
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value)).encode()
    for key, raw in raws.items():
        text = text.replace(json.dumps(key).encode(), raw)
    return text


DEEP_ARRAYS = Raw(b"[" * 100_000 + b"]" * 100_000)
DEEP_OBJECTS = Raw(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
HUGE_NUMBER = Raw(b"9" * 5000)  # beyond Python's int-string limit (4300 digits)
TWO_MB = "x" * (2 * 1024 * 1024)
LONE_SURROGATE = "\ud800"  # valid JSON escape, not valid Unicode

# --------------------------------------------------------------------------------------------------
# Values by field type (each one wrong for that type, whatever the endpoint)

WRONG_SHAPES = [
    Bad("a list", [1]),
    Bad("an empty list", []),
    Bad("an object", {"value": 1}),
    Bad("an empty object", {}),
    Bad("a 2 MB string", TWO_MB),
    Bad("a string with a NUL character", "1\x00"),
    Bad("a lone surrogate (not Unicode)", LONE_SURROGATE),
    Bad("NaN literal", Raw(b"NaN"), names=None),
    Bad("Infinity literal", Raw(b"Infinity"), names=None),
    Bad("-Infinity literal", Raw(b"-Infinity"), names=None),
    Bad("a 5000-digit number (beyond Python's int-string limit)", HUGE_NUMBER, names=None),
    Bad("arrays nested 100,000 deep", DEEP_ARRAYS, names=None),
]

# Strings Python's int()/float() read although they are no ASCII number, and other near-numbers.
NUMBER_LOOKALIKES = [
    Bad("'²' (superscript two: isdigit() is true, int() fails)", "²"),
    Bad("'٣' (Arabic-Indic three: int() reads 3)", "٣"),
    Bad("'３' (fullwidth three)", "３"),
    Bad("'𝟏' (mathematical bold one)", "𝟏"),
    Bad("'①' (circled one)", "①"),
    Bad("'Ⅻ' (roman numeral twelve)", "Ⅻ"),
    Bad("'½'", "½"),
    Bad("'1_0' (Python's digit separator)", "1_0"),
    Bad("' 1' (padded)", " 1"),
    Bad("'1 '", "1 "),
    Bad("'+1'", "+1"),
    Bad("'0x10'", "0x10"),
    Bad("'abc'", "abc"),
    Bad("an empty string", ""),
    Bad("'nan'", "nan"),
    Bad("'inf'", "inf"),
]

INTEGER = WRONG_SHAPES + NUMBER_LOOKALIKES + [
    Bad("2^63 (one above the largest id)", 2**63),
    Bad("2^64", 2**64),
    Bad("10^400", 10**400),
    Bad("-2^63-1", -(2**63) - 1),
    Bad("-1", -1),
    Bad("a 5000-digit string", "9" * 5000),
    Bad("1.5 (a float)", 1.5),
    Bad("1e20 (a float)", 1e20),
    Bad("1e999 (overflows to infinity)", Raw(b"1e999")),
    Bad("-1e999", Raw(b"-1e999")),
    Bad("'1.5'", "1.5"),
    Bad("'1e3'", "1e3"),
    Bad("true", True),
    Bad("false", False),
]
NOT_NULL = [Bad("null", None)]
ID = INTEGER + [Bad("0", 0)]
CATEGORY = INTEGER + NOT_NULL + [Bad("11", 11), Bad("255", 255), Bad("2^15", 2**15)]

NUMBER = WRONG_SHAPES + [
    Bad("true", True),
    Bad("false", False),
    Bad("'abc'", "abc"),
    Bad("an empty string", ""),
    Bad("'NaN'", "NaN"),
    Bad("'nan'", "nan"),
    Bad("'inf'", "inf"),
    Bad("'-Infinity'", "-Infinity"),
    Bad("'1e999' (infinity as a string)", "1e999"),
    Bad("1e999 (overflows to infinity)", Raw(b"1e999")),
    Bad("-1e999", Raw(b"-1e999")),
    Bad("10^400 (too large for a float)", 10**400),
    Bad("a 5000-digit string", "9" * 5000),
    Bad("'٠.٥' (Arabic-Indic digits: float() reads 0.5)", "٠.٥"),
    Bad("'０.２' (fullwidth digits)", "０.２"),
    Bad("'²'", "²"),
    Bad("'0x1p-2' (a hex float)", "0x1p-2"),
    Bad("'0.2_5' (Python's digit separator)", "0.2_5"),
    Bad("' 0.25' (padded)", " 0.25"),
]
UNIT = NUMBER + NOT_NULL + [
    Bad("1.5", 1.5), Bad("-1.5", -1.5), Bad("1.0000001", 1.0000001), Bad("-1.0000001", -1.0000001),
    Bad("2^64", 2**64), Bad("1e308", 1e308), Bad("-1e308", -1e308),
]
SECONDS = NUMBER + NOT_NULL + [
    Bad("-1", -1), Bad("-1e-9", -1e-9), Bad("3600.001", 3600.001), Bad("1e308", 1e308), Bad("2^64", 2**64),
]
BOOLEAN = WRONG_SHAPES + NOT_NULL + [
    Bad("2", 2), Bad("-1", -1), Bad("0.5", 0.5), Bad("10^400", 10**400), Bad("1e999", Raw(b"1e999")),
    Bad("'maybe'", "maybe"), Bad("an empty string", ""), Bad("'truee'", "truee"), Bad("'2'", "2"),
    Bad("'nan'", "nan"), Bad("'١' (Arabic-Indic one)", "١"),
]
_KEY = "0b9a7c2e-4a51-4f1e-9c3d-2f6a8b1e5d47"
UUID = WRONG_SHAPES + NOT_NULL + [
    Bad("'not-a-uuid'", "not-a-uuid"),
    Bad("an empty string", ""),
    Bad("123 (a number)", 123),
    Bad("true", True),
    Bad("false", False),
    Bad("-1", -1),
    Bad("2^128", 2**128),
    Bad("1.5", 1.5),
    Bad("a UUID one character short", _KEY[:-1]),
    Bad("a UUID one character long", _KEY + "0"),
    Bad("a UUID with a 'g'", "g" + _KEY[1:]),
    Bad("a UUID then NUL", _KEY + "\x00"),
    Bad("36 dashes", "-" * 36),
    Bad("a UUID in fullwidth digits", _KEY.replace("0", "０")),
]
CHOICE = WRONG_SHAPES + NOT_NULL + [
    Bad("'bogus'", "bogus"), Bad("an empty string", ""), Bad("'ANNOTATION' (case)", "ANNOTATION"),
    Bad("' manual' (padded)", " manual"), Bad("'manual\\x00'", "manual\x00"), Bad("1", 1), Bad("true", True),
]


def _item(bad: Bad) -> Bad:
    return Bad(f"[{bad.label}]", [bad.value], bad.status, bad.names)


ID_LIST = [
    Bad("a number", 1),
    Bad("a string", "1"),
    Bad("'1,2'", "1,2"),
    Bad("an object", {"0": 1}),
    Bad("null", None),
    Bad("true", True),
    Bad("51 ids (more than 50)", list(range(1, 52))),
    Bad("a 2 MB string", TWO_MB),
    Bad("a lone surrogate", LONE_SURROGATE),
    Bad("NaN literal", Raw(b"NaN"), names=None),
    Bad("arrays nested 100,000 deep", DEEP_ARRAYS, names=None),
] + [_item(b) for b in ID] + [_item(Bad("null", None))]

# --------------------------------------------------------------------------------------------------
# Whole-body kinds, sent to every JSON endpoint


@dataclass(frozen=True)
class BodyKind:
    label: str
    body: Callable[[bytes], bytes]  # from the baseline's JSON bytes
    content_type: str = "application/json"
    status: tuple = (400,)
    headers: dict = field(default_factory=dict)
    needs_required: bool = False  # a bad input only where the endpoint has a required field


def _upper_keys(body: bytes) -> bytes:
    return json.dumps({k.upper(): v for k, v in json.loads(body).items()}).encode()


def _all_null(body: bytes) -> bytes:
    return json.dumps({k: None for k in json.loads(body)}).encode()


BODY_KINDS = [
    BodyKind("not JSON", lambda b: b"{face: 1, category: happy}"),
    BodyKind("JSON cut short", lambda b: b[:-1]),
    BodyKind("JSON and trailing garbage", lambda b: b + b" x"),
    BodyKind("two JSON documents", lambda b: b + b),
    BodyKind("a Python dict literal (single quotes)", lambda b: b.replace(b'"', b"'")),
    BodyKind("whitespace only", lambda b: b"  \n "),
    BodyKind("an empty body", lambda b: b"", needs_required=True),
    BodyKind("an empty object", lambda b: b"{}", needs_required=True),
    BodyKind("only unknown keys", lambda b: b'{"bogus": 1}', needs_required=True),
    BodyKind("the keys in upper case", _upper_keys, needs_required=True),
    BodyKind("every value null", _all_null),
    BodyKind("a JSON array", lambda b: b"[]"),
    BodyKind("the body inside an array", lambda b: b"[" + b + b"]"),
    BodyKind("a JSON string", lambda b: b'"x"'),
    BodyKind("the body encoded twice (a JSON string of JSON)", lambda b: json.dumps(b.decode()).encode()),
    BodyKind("JSON null", lambda b: b"null"),
    BodyKind("a JSON number", lambda b: b"1"),
    BodyKind("JSON true", lambda b: b"true"),
    BodyKind("NaN literal", lambda b: b"NaN"),
    BodyKind("Infinity literal", lambda b: b"Infinity"),
    BodyKind("1e999 (a number overflowing to infinity)", lambda b: b"1e999"),
    BodyKind("arrays nested 100,000 deep", lambda b: bytes(DEEP_ARRAYS)),
    BodyKind("objects nested 100,000 deep", lambda b: bytes(DEEP_OBJECTS)),
    BodyKind("the body inside objects nested 100,000 deep", lambda b: b'{"a":' * 100_000 + b + b"}" * 100_000),
    BodyKind("invalid UTF-8 in a key", lambda b: b'{"\xff\xfe": 1, ' + b[1:]),
    BodyKind("invalid UTF-8 only", lambda b: b"\xff\xfe\xfd"),
    BodyKind("a UTF-8 byte order mark", lambda b: b"\xef\xbb\xbf" + b),
    BodyKind("UTF-16", lambda b: b.decode().encode("utf-16")),
    BodyKind("UTF-8 bytes declared as charset=utf-16", lambda b: b, "application/json; charset=utf-16"),
    BodyKind("gzip-compressed", lambda b: gzip.compress(b), headers={"HTTP_CONTENT_ENCODING": "gzip"}),
    BodyKind("a lone surrogate as a key", lambda b: b'{"\\ud800": 1, ' + b[1:]),
    BodyKind("Content-Type text/plain", lambda b: b, "text/plain", (415,)),
    BodyKind("Content-Type application/xml", lambda b: b"<body><face>1</face></body>", "application/xml", (415,)),
    BodyKind("Content-Type application/octet-stream", lambda b: b, "application/octet-stream", (415,)),
    BodyKind("Content-Type application/jsonx", lambda b: b, "application/jsonx", (415,)),
    BodyKind("Content-Type text/html", lambda b: b, "text/html", (415,)),
    BodyKind("JSON sent as a form (x-www-form-urlencoded)", lambda b: b, "application/x-www-form-urlencoded",
             needs_required=True),
    BodyKind("a form with 2,000 fields (over DATA_UPLOAD_MAX_NUMBER_FIELDS)",
             lambda b: "&".join(f"f{i}=1" for i in range(2000)).encode(), "application/x-www-form-urlencoded"),
    BodyKind("multipart without a boundary", lambda b: b, "multipart/form-data"),
    BodyKind("JSON sent as multipart", lambda b: b, "multipart/form-data; boundary=xyz", needs_required=True),
]

# --------------------------------------------------------------------------------------------------
# Ids in the URL: every one is no row id (or no such row); under /api/ a JSON 404.

PATH_IDS = [
    ("0", "0"), ("-1", "-1"), ("00", "00"), ("2^63", str(2**63)), ("2^63-1 (no such row)", str(MAX_ID)),
    ("2^64", str(2**64)), ("99999999999999999999", "9" * 20), ("19 nines", "9" * 19), ("-2^63", str(-(2**63))),
    ("a 5000-digit number", "9" * 5000), ("a 20-digit zero-padded 1", "0" * 19 + "1"),
    ("abc", "abc"), ("1.5", "1.5"), ("1.0", "1.0"), ("1e3", "1e3"), ("1e999", "1e999"), ("0x1F", "0x1F"),
    ("0b1", "0b1"), ("+1", quote("+1")), ("' 1'", "%201"), ("'1 '", "1%20"), ("'1\\t'", "1%09"),
    ("'1\\n'", "1%0A"), ("a space", "%20"), ("-0", "-0"), ("NaN", "NaN"), ("inf", "inf"), ("Infinity", "Infinity"),
    ("null", "null"), ("true", "true"), ("[]", quote("[]")), ("{}", quote("{}")), ("1,2", "1,2"), ("1;2", "1;2"),
    ("1 2", "1%202"), ("1_000", "1_000"), ("²", quote("²")), ("٣ (Arabic-Indic)", quote("٣")),
    ("٠ (Arabic-Indic zero)", quote("٠")), ("３ (fullwidth)", quote("３")), ("１２３ (fullwidth)", quote("１２３")),
    ("𝟏 (mathematical bold)", quote("𝟏")), ("① (circled)", quote("①")), ("Ⅻ (roman)", quote("Ⅻ")),
    ("½", quote("½")), ("१ (Devanagari)", quote("१")), ("a zero-width space and 1", quote("\u200b1")),
    ("NUL", "%00"), ("1 then NUL", "1%00"), ("invalid UTF-8 (%ff)", "%ff"), ("overlong UTF-8 '1'", "%c0%b1"),
    ("'..'", ".."), ("'%2e%2e'", "%2e%2e"), ("an encoded slash (1%2F2)", "1%2F2"), ("'1?'", "1%3F"),
    ("'1#'", "1%23"), ("a 10,000-letter word", "a" * 10_000), ("<script>", quote("<script>alert(1)</script>")),
    ("SQL", quote("1; DROP TABLE annotator_face; --")), ("%u0031 (IIS-style escape)", "%25u0031"),
    ("an empty segment", ""),
]

# Query-string values (the review filters, paging); urlencoded by the client.
QUERY_INTEGER = [
    "abc", "1.5", "1e3", "0x10", "²", "٣", "３", "𝟏", "1_0", " 1", "1 ", "+1", "½", "nan", "inf", "true", "[1]",
    "1,2", "\x00", "1\x00", str(2**63), str(2**64), "9" * 20, "9" * 5000, "-" + "9" * 30,
]
QUERY_ID = QUERY_INTEGER + ["0", "-1"]
QUERY_CHOICE = ["bogus", "OUTSIDE_REGION", " outside_region", "outside_region\x00", "\x00", "x" * 10_000, "[]", "1"]
QUERY_SPLIT = ["bogus", "TRAIN", " train", "train\x00", "\x00", "x" * 10_000, "1", "[]"]
QUERY_EXCLUDE = ["abc", "1,abc", "0", "-1", "²", "٣", "1;2", "1.5", str(2**63), "9" * 5000, "\x00",
                 ",".join(str(n) for n in range(1, 102))]
QUERY_MODEL_SPEC = ["nope", ":", "name:", ":version", "no-such-model:1", "test-model\x00:1", "test-model:1\x00",
                    "x" * 10_000 + ":1", "test-model:" + "9" * 5000]
FILTERS = {"reason": QUERY_CHOICE, "category": QUERY_INTEGER + ["-1", "11"], "annotator": QUERY_ID, "model": QUERY_ID}

# --------------------------------------------------------------------------------------------------
# The baseline world


@dataclass
class World:
    users: dict
    clients: dict
    held: Face  # the annotator holds a live claim on it (through /api/queue/next/)
    answered: Face  # the annotator answered it: `answer`
    decided: Face  # the annotator answered it, then a reviewer decided it: `decided_answer`
    other_face: Face  # the other annotator answered it: `other_answer`
    free: Face  # open, nobody holds it
    gold: Face  # a gold item
    suggestion: Suggestion  # the active suggester's, for `held`
    answered_suggestion: Suggestion
    other_suggestion: Suggestion  # for `other_face`
    answer: object
    answer_key: str
    decided_answer: object
    other_answer: object


def _ok(response, *codes):
    assert response.status_code in codes, (response.status_code, response.content[:500])
    return response


def _post(client, path, body):
    return client.post(path, body, content_type="application/json")


def _claim_exactly(client, face):
    """Claim this face through the queue, as the page does (the queue serves the highest priority first)."""
    Face.objects.filter(pk=face.pk).update(queue_priority=1e9)
    faces = _ok(_post(client, NEXT, {"count": 1, "holding": []}), 200).json()["faces"]
    Face.objects.filter(pk=face.pk).update(queue_priority=0)
    assert [f["id"] for f in faces] == [face.pk]


@pytest.fixture
def world(db, settings) -> World:
    set_policy(gold_share=0.0)
    set_policy(blind_share=0.0)
    set_policy(queue_order="rare_first")
    users = {
        "annotator": make_user("ann1", "annotator"),
        "other": make_user("ann2", "annotator"),
        "reviewer": make_user("rev1", "reviewer"),
        "admin": make_user("admin1", "admin"),
    }
    clients = {}
    for role, user in users.items():
        clients[role] = Client(raise_request_exception=False)
        clients[role].force_login(user)
    held, answered, decided, other_face, free, gold = (make_face(n) for n in range(1, 7))
    suggester = activate(Suggester.objects.create(name="test-model", version="1"))

    def suggest(face, category, valence, arousal):
        return Suggestion.objects.create(face=face, suggester=suggester, probabilities=[0.0] * 11,
                                         category=category, confidence=0.8, valence=valence, arousal=arousal)

    suggestion = suggest(held, 1, 0.6, 0.3)
    answered_suggestion = suggest(answered, 1, 0.5, 0.2)
    other_suggestion = suggest(other_face, 2, -0.5, -0.3)

    ann, other = clients["annotator"], clients["other"]
    key = str(uuid.uuid4())
    _claim_exactly(ann, answered)
    answer_id = _ok(_post(ann, SUBMIT, {"face": answered.id, "category": 1, "valence": 0.5, "arousal": 0.2,
                                        "client_key": key}), 201).json()["id"]
    _claim_exactly(ann, decided)
    decided_id = _ok(_post(ann, SUBMIT, {"face": decided.id, "category": 3, "valence": 0.2, "arousal": 0.8,
                                         "client_key": str(uuid.uuid4())}), 201).json()["id"]
    _ok(_post(clients["reviewer"], f"/api/review/faces/{decided.id}/decision/", {
        "category": 3, "valence": 0.2, "arousal": 0.8, "source": "annotation", "annotation_id": decided_id}), 201)
    _claim_exactly(other, other_face)
    other_id = _ok(_post(other, SUBMIT, {"face": other_face.id, "category": 2, "valence": -0.5, "arousal": -0.3,
                                         "client_key": str(uuid.uuid4())}), 201).json()["id"]
    _ok(_post(clients["admin"], "/api/review/gold/", {"face_id": gold.id, "category": 1, "valence": 0.6,
                                                       "arousal": 0.3}), 201)
    install_default_guidelines()  # guideline version 1
    _claim_exactly(ann, held)  # last: the live claim the bad inputs must leave alone
    Face.objects.filter(pk=free.pk).update(queue_priority=10)  # the next face the queue would hand out
    return World(users=users, clients=clients, held=held, answered=answered, decided=decided,
                 other_face=other_face, free=free, gold=gold, suggestion=suggestion,
                 answered_suggestion=answered_suggestion, other_suggestion=other_suggestion,
                 answer=Annotation.objects.get(pk=answer_id), answer_key=key,
                 decided_answer=Annotation.objects.get(pk=decided_id),
                 other_answer=Annotation.objects.get(pk=other_id))


# --------------------------------------------------------------------------------------------------
# Sending one input and judging the answer


@dataclass
class Request:
    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


@dataclass
class Case:
    kind: str
    request: Request
    status: tuple = (400,)
    names: Optional[str] = None  # a name the error must mention; None: any message


def _tables() -> list:
    return sorted(t for t in connection.introspection.table_names() if t.startswith(("annotator_", "reviews_")))


def snapshot() -> dict:
    """Every row of every table of the two apps: faces, answers (and their history), claims (leases
    compared in full: a refused request must not hand out, extend or end one), suggestions,
    decisions (and history), flags, gold items, photos, ..."""
    rows = {}
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows[table] = sorted(repr(row) for row in cursor.fetchall())
    return rows


def changes(before: dict, after: dict) -> str:
    out = []
    for table in sorted(set(before) | set(after)):
        old, new = set(before.get(table, ())), set(after.get(table, ()))
        if old != new:
            added, gone = sorted(new - old), sorted(old - new)
            out.append(f"{table}: +{len(added)} -{len(gone)} rows" + (f" (now {added[0][:160]})" if added else ""))
    return "; ".join(out)


def test_the_snapshot_covers_the_tables_that_matter(db):
    assert {"annotator_face", "annotator_annotation", "annotator_historicalannotation", "annotator_claim",
            "annotator_suggestion", "annotator_photo", "reviews_decision", "reviews_historicaldecision",
            "reviews_flag", "reviews_golditem"} <= set(_tables())


def send(client, request: Request):
    return client.generic(request.method, request.path, request.body, content_type=request.content_type,
                          **request.headers)


def attempt(client, request: Request, before: Optional[dict] = None):
    """Send one request in a savepoint that is rolled back; return (response, what it stored).

    `before`: the snapshot to compare with (the rollback restores it, so a loop takes it once; should
    anything escape the rollback, every later input is reported too)."""
    before = snapshot() if before is None else before
    try:
        with transaction.atomic():
            response = send(client, request)
            stored = changes(before, snapshot())
            transaction.set_rollback(True)
    except DatabaseError as exc:  # the request left the transaction broken (PostgreSQL)
        return None, f"the database transaction broke: {exc}"
    return response, stored


def _messages(data) -> list:
    if isinstance(data, dict):
        return [m for k, v in data.items() for m in [str(k), *_messages(v)]]
    if isinstance(data, list):
        return [m for v in data for m in _messages(v)]
    return [str(data)]


def refusal_problem(response, stored: str, case: Case, *, api: bool = True) -> Optional[str]:
    """Return what is wrong with the answer to a bad input, or None."""
    if response is None:
        return stored
    code = response.status_code
    problems = []
    if code >= 500:
        problems.append(f"a {code}")
    elif code not in case.status:
        problems.append(f"{code}, expected {'/'.join(map(str, case.status))}")
    if stored:
        problems.append(f"stored: {stored}")
    if api and code >= 400:
        kind = response.get("Content-Type", "")
        if not kind.startswith("application/json"):
            problems.append(f"not JSON but {kind!r}: {response.content[:120]!r}")
        else:
            data = response.json()
            texts = _messages(data) if isinstance(data, (dict, list)) else []
            values = _messages(list(data.values())) if isinstance(data, dict) else []
            if not isinstance(data, dict) or not any(t.strip() for t in values):
                problems.append(f"no message: {response.content[:200]!r}")
            elif case.names and not any(case.names in t for t in texts):
                problems.append(f"the error does not name {case.names!r}: {response.content[:300]!r}")
    if code >= 500:
        problems.append(f"the answer: {response.content[:200]!r}")
    return "; ".join(problems) or None


def run_cases(world: World, role: str, cases: list, *, api: bool = True) -> None:
    client = world.clients[role]
    failures = []
    before = snapshot()
    for case in cases:
        response, stored = attempt(client, case.request, before)
        problem = refusal_problem(response, stored, case, api=api)
        if problem:
            failures.append(f"- {case.kind}: {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} bad inputs were not refused cleanly:\n" + "\n".join(failures)


def positive_control(world: World, role: str, request: Request, status: int) -> None:
    """The baseline request is accepted and stores something (so a bad one is refused for its bad value)."""
    response, stored = attempt(world.clients[role], request)
    assert response is not None and response.status_code == status, (response and response.content[:500], stored)
    assert stored, "the baseline request stored nothing: the snapshot would miss a stored bad input"


# --------------------------------------------------------------------------------------------------
# The write endpoints


@dataclass
class Endpoint:
    name: str
    method: str
    path: Callable[[World], str]  # the baseline's path
    role: str
    baseline: Callable[[World], dict]
    status: int  # the baseline's status
    fields: dict  # field -> list of Bad values
    special: list = field(default_factory=list)  # (label, {field: value or callable(world)}, status, names)
    required: tuple = ()  # fields the endpoint requires
    path_template: Optional[str] = None  # with {id}: the path-id kinds apply
    path_special: list = field(default_factory=list)  # (label, callable(world) -> id, status)
    query: dict = field(default_factory=dict)  # query parameter -> bad values (it reads filters)


def _resolve(value, world):
    return value(world) if callable(value) else value


def body_cases(endpoint: Endpoint, world: World) -> list:
    base = endpoint.baseline(world)
    path = endpoint.path(world)
    base_bytes = render(base)
    cases = []
    for kind in BODY_KINDS:
        if kind.needs_required and not endpoint.required:
            continue
        cases.append(Case(f"body: {kind.label}", Request(endpoint.method, path, kind.body(base_bytes),
                                                         kind.content_type, dict(kind.headers)), kind.status))
    for name in endpoint.required:
        body = {k: v for k, v in base.items() if k != name}
        cases.append(Case(f"{name}: missing", Request(endpoint.method, path, render(body)), (400,), name))
    for name, values in endpoint.fields.items():
        for bad in values:
            body = dict(base)
            value = _resolve(bad.value, world)
            if value is MISSING:
                body.pop(name, None)
            else:
                body[name] = value
            names = name if bad.names == FIELD else bad.names
            cases.append(Case(f"{name}: {bad.label}", Request(endpoint.method, path, render(body)), bad.status, names))
    for label, changes_, status, names in endpoint.special:
        body = dict(base)
        for name, value in changes_.items():
            value = _resolve(value, world)
            if value is MISSING:
                body.pop(name, None)
            else:
                body[name] = value
        cases.append(Case(label, Request(endpoint.method, path, render(body)), status, names))
    if endpoint.path_template:
        for label, text in PATH_IDS:
            cases.append(Case(f"path id: {label}", Request(endpoint.method, endpoint.path_template.format(id=text),
                                                           base_bytes), (404,)))
        for label, make_id, status in endpoint.path_special:
            cases.append(Case(f"path id: {label}", Request(
                endpoint.method, endpoint.path_template.format(id=make_id(world)), base_bytes), status))
    for param, values in endpoint.query.items():
        for value in values:
            cases.append(Case(f"query {param}={value[:40]!r}", Request(
                endpoint.method, f"{path}?{urlencode({param: value})}", base_bytes), (400,), param))
    return cases


def _point(valence, arousal, **more):
    return {"valence": valence, "arousal": arousal, **more}


LABEL_SPECIAL = [
    ("point outside the circle (0.9, 0.9)", _point(0.9, 0.9), (400,), "valence"),
    ("point outside the circle (-0.8, 0.61)", _point(-0.8, 0.61), (400,), "arousal"),
    ("point outside the circle (1.0, 0.01)", _point(1.0, 0.01), (400,), "valence"),
    ("Uncertain (9) with a valence", {"category": 9, "valence": 0.5, "arousal": None}, (400,), "valence"),
    ("No-Face (10) with an arousal", {"category": 10, "valence": None, "arousal": 0.3}, (400,), "arousal"),
    ("No-Face (10) with a point", {"category": 10}, (400,), "valence"),
    ("Uncertain (9) with valence 'abc'", {"category": 9, "valence": "abc", "arousal": None}, (400,), "valence"),
    ("Uncertain (9) with valence NaN as a string", {"category": 9, "valence": "nan", "arousal": None}, (400,),
     "valence"),
    ("a category with a point, without a valence", {"valence": MISSING}, (400,), "valence"),
    ("a category with a point, without an arousal", {"arousal": MISSING}, (400,), "arousal"),
]
ANSWER_SPECIAL = LABEL_SPECIAL + [
    ("point outside Happiness's region, not confirmed", {"category": 1, "valence": -0.8, "arousal": -0.5}, (400,),
     "outside_region_confirmed"),
]


def label_kinds(kinds, *, category, **fixed):
    """The label kinds over another endpoint's baseline: in `category` unless a kind names its own, with
    `fixed` fields set (a decision that places its own point is a manual one)."""
    return [(label, {"category": category, **c, **fixed}, s, n) for label, c, s, n in kinds]

ENDPOINTS = [
    Endpoint(
        name="POST /api/queue/next/", method="POST", path=lambda w: NEXT, role="annotator",
        baseline=lambda w: {"count": 2, "holding": [w.held.id]}, status=200,
        fields={"count": INTEGER + NOT_NULL + [Bad("0", 0), Bad("11", 11), Bad("1000", 1000)], "holding": ID_LIST},
    ),
    Endpoint(
        name="POST /api/queue/release/", method="POST", path=lambda w: RELEASE, role="annotator",
        baseline=lambda w: {"face": w.held.id}, status=204, required=("face",),
        fields={"face": ID + NOT_NULL + [Bad("2^63-1 (no such face)", MAX_ID, (404,))]},
    ),
    Endpoint(
        name="POST /api/annotations/", method="POST", path=lambda w: SUBMIT, role="annotator",
        baseline=lambda w: {"face": w.held.id, "category": 1, "valence": 0.5, "arousal": 0.2,
                            "client_key": str(uuid.uuid4()), "suggestion": w.suggestion.id, "seconds_spent": 3.5,
                            "outside_region_confirmed": False},
        status=201, required=("face", "category", "client_key"),
        fields={
            "face": ID + NOT_NULL + [
                Bad("2^63-1 (no such face)", MAX_ID, (404,)),
                Bad("a face nobody handed out (no claim)", lambda w: w.free.id, (409,)),
                Bad("a face answered already", lambda w: w.answered.id, (409,)),
                Bad("a gold face (no claim)", lambda w: w.gold.id, (409,)),
                Bad("a face another annotator answered", lambda w: w.other_face.id, (409,)),
            ],
            "category": CATEGORY,
            "valence": UNIT,
            "arousal": UNIT,
            "client_key": UUID + [
                Bad("the key of another answer (reused)", lambda w: w.answer_key, (409,)),
                Bad("the key of another answer, in upper case", lambda w: w.answer_key.upper(), (409,)),
            ],
            "suggestion": ID + [
                Bad("a suggestion of another face", lambda w: w.other_suggestion.id, (409,)),
                Bad("a suggestion of a face answered already", lambda w: w.answered_suggestion.id, (409,)),
                Bad("2^63-1 (no such suggestion)", MAX_ID, (409,)),
            ],
            "seconds_spent": SECONDS,
            "outside_region_confirmed": BOOLEAN,
        },
        special=ANSWER_SPECIAL + [
            ("a retry of an earlier answer's key with a different answer",
             {"face": lambda w: w.answered.id, "client_key": lambda w: w.answer_key, "suggestion": None,
              "category": 2, "valence": -0.5, "arousal": -0.3}, (409,), "client_key"),
        ],
    ),
    Endpoint(
        name="PATCH /api/annotations/<id>/", method="PATCH", path=lambda w: f"/api/annotations/{w.answer.id}/",
        role="annotator",
        baseline=lambda w: {"category": 2, "valence": -0.5, "arousal": -0.3, "seconds_spent": 1.5,
                            "outside_region_confirmed": False},
        status=200, required=("category",),
        fields={"category": CATEGORY, "valence": UNIT, "arousal": UNIT, "seconds_spent": SECONDS,
                "outside_region_confirmed": BOOLEAN},
        special=label_kinds(ANSWER_SPECIAL, category=1),
        path_template="/api/annotations/{id}/",
        path_special=[
            ("another annotator's answer", lambda w: w.other_answer.id, (404,)),
            ("an answer of a face a reviewer decided", lambda w: w.decided_answer.id, (409,)),
        ],
    ),
    Endpoint(
        name="POST /api/review/faces/<id>/decision/", method="POST",
        path=lambda w: f"/api/review/faces/{w.answered.id}/decision/", role="reviewer",
        baseline=lambda w: {"category": 1, "valence": 0.5, "arousal": 0.2, "source": "annotation",
                            "annotation_id": w.answer.id, "suggestion_id": None},
        status=201, required=("category",),
        fields={
            "category": CATEGORY, "valence": UNIT, "arousal": UNIT, "source": CHOICE,
            "annotation_id": ID + [
                Bad("an answer of another face", lambda w: w.other_answer.id, (400,)),
                Bad("2^63-1 (no such answer)", MAX_ID, (400,)),
            ],
            "suggestion_id": ID + [
                Bad("a suggestion of another face", lambda w: w.other_suggestion.id, (400,)),
                Bad("2^63-1 (no such suggestion)", MAX_ID, (400,)),
            ],
        },
        special=label_kinds(LABEL_SPECIAL, category=1, source="manual", annotation_id=None) + [
            ("accepting an answer without its id", {"annotation_id": None}, (400,), "annotation_id"),
            ("accepting a suggestion without its id", {"source": "suggestion"}, (400,), "suggestion_id"),
            ("accepting a suggestion of another face", {"source": "suggestion", "annotation_id": None,
                                                        "suggestion_id": lambda w: w.other_suggestion.id},
             (400,), "suggestion_id"),
        ],
        path_template="/api/review/faces/{id}/decision/",
        query=FILTERS,
    ),
    Endpoint(
        name="POST /api/review/gold/", method="POST", path=lambda w: "/api/review/gold/", role="admin",
        baseline=lambda w: {"face_id": w.free.id, "category": 4, "valence": -0.5, "arousal": 0.7},
        status=201, required=("face_id", "category"),
        fields={"face_id": ID + NOT_NULL + [Bad("2^63-1 (no such face)", MAX_ID)], "category": CATEGORY,
                "valence": UNIT, "arousal": UNIT},
        special=label_kinds(LABEL_SPECIAL, category=4),
    ),
    Endpoint(
        name="POST /api/guidelines/read/", method="POST", path=lambda w: "/api/guidelines/read/", role="annotator",
        baseline=lambda w: {"version": 1}, status=204, required=("version",),
        fields={"version": INTEGER + NOT_NULL + [Bad("0", 0), Bad("2^31 (beyond the column)", 2**31),
                                                 Bad("a version not made yet", 2)]},
    ),
]


def _count(endpoint: Endpoint) -> int:
    body = sum(1 for k in BODY_KINDS if endpoint.required or not k.needs_required)
    fields = sum(len(v) for v in endpoint.fields.values()) + len(endpoint.required)
    paths = (len(PATH_IDS) + len(endpoint.path_special)) if endpoint.path_template else 0
    query = sum(len(v) for v in endpoint.query.values())
    return body + fields + len(endpoint.special) + paths + query


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_bad_input_to_a_write_endpoint_is_refused_with_a_message_and_stores_nothing(world, endpoint):
    cases = body_cases(endpoint, world)
    assert len(cases) == _count(endpoint) >= 60, (endpoint.name, len(cases))
    positive_control(world, endpoint.role, Request(endpoint.method, endpoint.path(world),
                                                   render(endpoint.baseline(world))), endpoint.status)
    run_cases(world, endpoint.role, cases)


GOLD_DELETE_SPECIAL = [
    ("a face that is not a gold item", lambda w: w.free.id),
    ("a face another annotator answered (not gold)", lambda w: w.other_face.id),
]


def gold_delete_cases(world: World) -> list:
    cases = [Case(f"path id: {label}", Request("DELETE", f"/api/review/gold/{text}/"), (404,))
             for label, text in PATH_IDS]
    cases += [Case(f"path id: {label}", Request("DELETE", f"/api/review/gold/{make(world)}/"), (404,))
              for label, make in GOLD_DELETE_SPECIAL]
    cases += [Case("an extra path segment", Request("DELETE", f"/api/review/gold/{world.gold.id}/extra/"), (404,)),
              Case("two ids", Request("DELETE", f"/api/review/gold/{world.gold.id}/{world.gold.id}/"), (404,))]
    return cases


def test_bad_path_ids_to_gold_delete_are_refused_and_delete_nothing(world):
    cases = gold_delete_cases(world)
    assert len(cases) >= 60, len(cases)
    positive_control(world, "admin", Request("DELETE", f"/api/review/gold/{world.gold.id}/"), 204)
    run_cases(world, "admin", cases)


# --------------------------------------------------------------------------------------------------
# GET endpoints that take parameters, and ids in every URL


@dataclass
class Reader:
    name: str
    path: Callable[[World], str]
    role: str
    params: dict  # parameter -> bad values
    api: bool = True  # a JSON API (400 naming the parameter); else a page (200 or 400, never a 500)
    names: tuple = ()  # a page's parameters whose bad values it names in its error line


READERS = [
    Reader("GET /api/review/queue/", lambda w: "/api/review/queue/", "reviewer", {
        **FILTERS, "limit": QUERY_INTEGER + ["0", "-1", "501"], "offset": QUERY_INTEGER + ["-1"]}),
    Reader("GET /api/review/faces/<id>/", lambda w: f"/api/review/faces/{w.answered.id}/", "reviewer",
           {**FILTERS, "exclude": QUERY_EXCLUDE}),
    Reader("GET /api/review/evaluation/", lambda w: "/api/review/evaluation/", "reviewer",
           {"split": QUERY_SPLIT, "model": QUERY_MODEL_SPEC}),
    Reader("GET /api/review/agreement/", lambda w: "/api/review/agreement/", "reviewer",
           {"split": QUERY_SPLIT + ["all"]}),
    Reader("GET /review/", lambda w: "/review/", "reviewer", {**FILTERS, "page": QUERY_INTEGER + ["0", "-1"]},
           api=False, names=tuple(FILTERS)),
    Reader("GET /review/face/<id>/", lambda w: f"/review/face/{w.answered.id}/", "reviewer", FILTERS, api=False),
]


def _page_problem(response, param: str, *, names: bool) -> Optional[str]:
    if response.status_code not in (200, 400):
        return f"{response.status_code}"
    if names:
        errors = re.findall(r'<span class="error">(.*?)</span>', response.content.decode(), re.S)
        if not any(f"{param}:" in e for e in errors):
            return f"the page does not name {param!r} as the problem"
    return None


@pytest.mark.parametrize("reader", READERS, ids=[r.name for r in READERS])
def test_bad_parameters_to_a_reader_are_refused_with_a_message(world, reader):
    path = reader.path(world)
    client = world.clients[reader.role]
    assert client.get(path).status_code == 200
    failures = []
    before = snapshot()
    for param, values in reader.params.items():
        for value in values:
            request = Request("GET", f"{path}?{urlencode({param: value})}")
            response, stored = attempt(client, request, before)
            if reader.api:
                problem = refusal_problem(response, stored, Case("", request, (400,), param))
            else:
                problem = stored or _page_problem(response, param, names=param in reader.names)
            if problem:
                failures.append(f"- {param}={value[:40]!r}: {problem}")
    assert not failures, f"{reader.name}: {len(failures)} bad parameters not refused cleanly:\n" + "\n".join(failures)


ID_ROUTES = [
    ("GET", "/api/review/faces/{id}/", "reviewer"),
    ("GET", "/api/review/faces/{id}/history/", "admin"),
    ("GET", "/api/faces/{id}/image/", "annotator"),
    ("PATCH", "/api/annotations/{id}/", "annotator"),
    ("POST", "/api/review/faces/{id}/decision/", "reviewer"),
    ("DELETE", "/api/review/gold/{id}/", "admin"),
    ("GET", "/review/face/{id}/", "reviewer"),
]


@pytest.mark.parametrize("method, template, role", ID_ROUTES, ids=[f"{m} {t}" for m, t, _ in ID_ROUTES])
def test_ids_in_every_url_that_are_no_row_answer_404(world, method, template, role):
    api = template.startswith("/api/")
    body = render({"category": 1, "valence": 0.5, "arousal": 0.2}) if method in ("POST", "PATCH") else b""
    cases = [Case(f"{method} {template} with {label}", Request(method, template.format(id=text), body), (404,))
             for label, text in PATH_IDS]
    run_cases(world, role, cases, api=api)


# --------------------------------------------------------------------------------------------------
# The photo upload page (server-rendered; kept apart: the upload view is being reworked)

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"


def _zip(members) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def _file(name, data, kind="image/jpeg"):
    return SimpleUploadedFile(name, data, kind)


def _photo(name="g.jpg", source="grace_hopper.jpg", size=None):
    """A real photo (with a face) as an upload; the first `size` bytes only if given."""
    return _file(name, (PHOTOS / source).read_bytes()[:size])


def _form(*files, split="unassigned", **more):
    return {"files": list(files), "split": split, **more}


UPLOAD_KINDS = [
    # (kind, the form (made fresh for each post), what the page must say)
    ("no files", lambda: {"split": "unassigned"}, "This field is required"),
    ("files as a plain text field", lambda: {"files": "abc", "split": "unassigned"}, "This field is required"),
    ("an empty file", lambda: _form(_file("empty.jpg", b"")), "The submitted file is empty"),
    ("not an image (text named .jpg)", lambda: _form(_file("notes.jpg", b"not an image at all")),
     "upload:notes.jpg: not an image file"),
    ("half a JPEG", lambda: _form(_photo("half.jpg", "obama.jpg", size=3000)), "upload:half.jpg: not a readable image"),
    ("not a photo by its name", lambda: _form(_file("notes.txt", b"hello", "text/plain")),
     "notes.txt: not a photo or a .zip"),
    ("a zip that is no zip", lambda: _form(_file("fake.zip", b"PK not really", "application/zip")),
     "fake.zip: not a readable zip archive"),
    ("a zip with a '..' member", lambda: _form(_file("evil.zip", _zip([("../../evil.jpg", (PHOTOS / "obama.jpg")
                                                                       .read_bytes())]), "application/zip")),
     "evil.zip:../../evil.jpg: refused"),
    ("a bad split", lambda: _form(_photo(), split="bogus"), "Select a valid choice"),
    ("no split", lambda: {"files": [_photo()]}, "This field is required"),
    ("an empty split", lambda: _form(_photo(), split=""), "This field is required"),
    ("a split with a NUL", lambda: _form(_photo(), split="val\x00"), "Select a valid choice"),
]


# An upload is a job (annotator/photos/tasks.py): a bad file is named on its page, and leaves only the job
# and its line in the console's history.
UPLOAD_JOB_TABLES = {"annotator_job", "annotator_consoleaction"}


@pytest.mark.django_db
def test_bad_uploads_show_the_form_with_the_problem_and_store_nothing(data_root, tmp_path, settings, admin_user_role,
                                                                      jobs_inline):
    settings.VAR_DIR = tmp_path / "var"
    client = Client(raise_request_exception=False)
    client.force_login(admin_user_role)
    failures = []
    for kind, data, text in UPLOAD_KINDS:
        before = snapshot()
        response = jobs_inline(client, "/photos/upload/", data())  # the job's page when a job was started
        after = snapshot()
        stored = changes({t: r for t, r in before.items() if t not in UPLOAD_JOB_TABLES},
                         {t: r for t, r in after.items() if t not in UPLOAD_JOB_TABLES})
        page = response.content.decode(errors="replace")
        problems = []
        if response.status_code not in (200, 400):
            problems.append(f"{response.status_code}")
        if stored:
            problems.append(f"stored: {stored}")
        if text not in page:
            problems.append(f"the page does not say {text!r}")
        media = Path(settings.MEDIA_ROOT)
        if media.exists() and any(p.is_file() for p in media.rglob("*")):
            problems.append("a file was written under MEDIA_ROOT")
        if problems:
            failures.append(f"- {kind}: {'; '.join(problems)}")
    uploads = tmp_path / "var" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "an upload folder was left behind"
    assert not failures, "\n".join(failures)
