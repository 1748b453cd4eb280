"""The --categories text that export_affectnet and evaluate share."""

import pytest

from annotator.domain.categories import parse_categories


def test_ranges_and_lists_give_sorted_categories():
    assert parse_categories("0-7") == list(range(8))
    assert parse_categories("10, 0,1,5-7,6") == [0, 1, 5, 6, 7, 10]
    assert parse_categories("3") == [3]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("0-12", "'0-12' is outside 0-10"),
        ("-1", "'-1' is not a category"),
        ("happy", "'happy' is not a category"),
        ("7-3", "'7-3' is not a category or a range"),
        ("", "names no category"),
        (" , ", "names no category"),
    ],
)
def test_bad_text_names_the_part(text, reason):
    with pytest.raises(ValueError, match=f"--categories: .*{reason}"):
        parse_categories(text)
