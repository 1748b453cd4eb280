"""Expected valence/arousal regions: what the page draws and the server checks are the same data."""
import json

import pytest
from django.test import Client

from annotator.domain.va_regions import point_in_region, regions_for_page


def test_points_in_and_out_of_regions():
    assert point_in_region(1, 0.6, 0.3)  # Happiness, pleasant
    assert not point_in_region(1, -0.8, -0.5)
    assert point_in_region(2, -0.6, -0.3) and not point_in_region(2, 0.7, 0.2)  # Sadness
    assert point_in_region(8, -0.9, 0.9)  # None: any point
    assert point_in_region(10, None, None)  # No-Face: no point at all


@pytest.mark.django_db
def test_page_embeds_the_same_regions(annotator_user):
    client = Client()
    client.force_login(annotator_user)
    html = client.get("/annotate/").content.decode()
    start = html.index('<script id="annotate-config" type="application/json">') + len(
        '<script id="annotate-config" type="application/json">')
    config = json.loads(html[start:html.index("</script>", start)])
    assert config["regions"] == json.loads(json.dumps(regions_for_page()))
    assert [c["key"] for c in config["categories"]] == [str(i) for i in range(10)] + ["x"]
