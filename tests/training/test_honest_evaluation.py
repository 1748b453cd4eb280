"""Model evaluation scores a model only on final labels that do not echo a suggestion: on a dataset whose
kept suggestions would score 1.00 it reports the blind answers' numbers, with n, 95% intervals and a
not-meaningful mark; it works for a model that is not active, predicting its missing faces with --now."""
import io
from pathlib import Path

import pytest
import torch
from django.core.management import call_command

from annotator.domain.labels import Label
from annotator.faces.services import face_refresh_final_label, faces_final_labels_store
from annotator.models import Annotation, Face, FinalSource, Suggester, Suggestion
from annotator.training.selectors import evaluation_faces, suggester_evaluate
from reviews.services import decision_make, gold_mark
from tests.conftest import make_user
from tests.project_helpers import activate, active_in, set_policy
from tests.queue.test_queue import make_face

HAPPY, SAD, ANGER = 1, 2, 6
POINTS = {HAPPY: (0.7, 0.3), SAD: (-0.6, -0.3), ANGER: (-0.5, 0.6)}


def probabilities_for(category, confidence=0.9):
    rest = (1 - confidence) / 10
    return [confidence if c == category else rest for c in range(11)]


def suggest(face, suggester, category):
    valence, arousal = POINTS[category]
    return Suggestion.objects.create(face=face, suggester=suggester, probabilities=probabilities_for(category),
                                     category=category, confidence=0.9, valence=valence, arousal=arousal)


def answer(face, annotator, category, *, shown=None, blind=False):
    valence, arousal = shown and (shown.valence, shown.arousal) or POINTS[category]
    Annotation.objects.create(face=face, annotator=annotator, category=category, valence=valence, arousal=arousal,
                              suggestion=shown, shown_blind=blind,
                              kept_suggestion=None if shown is None else shown.category == category)
    Face.objects.filter(pk=face.pk).update(answer_count=face.annotations.count())
    face_refresh_final_label(face_id=face.pk)


@pytest.fixture
def biased(db, settings):
    """The model says Anger for every face. 40 faces where the annotator kept it (would score 1.00) and
    40 answered blind, of which 10 are Anger: its honest accuracy is 10/40 = 0.25."""
    settings.EVALUATION_RESAMPLES = 200
    model = activate(Suggester.objects.create(name="biased", version="1"))
    annotator = make_user("keeper", "annotator")
    kept, blind = [], []
    for i in range(80):
        face = make_face(i)
        Face.objects.filter(pk=face.pk).update(split="val")
        shown = suggest(face, model, ANGER)
        if i < 40:
            answer(face, annotator, ANGER, shown=shown)
            kept.append(face)
        else:
            truth = ANGER if i < 50 else (HAPPY if i % 2 else SAD)
            answer(face, annotator, truth, blind=True)
            blind.append(face)
    return model, kept, blind


def test_kept_suggestions_are_left_out_and_the_blind_answers_are_scored(biased):
    model, kept, blind = biased
    assert {Face.objects.get(pk=f.pk).final_source for f in kept + blind} == {FinalSource.SINGLE}
    # What the old evaluation did (every final label): 50 of 80 right, and 1.00 on the kept ones alone.
    everything = Face.objects.filter(split="val", final_category__isnull=False)
    assert everything.filter(final_category=ANGER).count() == 50

    result = suggester_evaluate(model, "val")
    assert (result["faces"], result["left_out"], result["pending"]) == (40, 40, 0)
    assert result["sources"]["single"] == 40
    assert result["categorical"]["n"] == 40
    assert result["categorical"]["acc"] == pytest.approx(0.25)
    low, high = result["intervals"]["categorical"]["acc"]
    assert low < 0.25 < high < 0.5
    assert result["valence"]["n"] == 40 and result["intervals"]["valence"]["rmse"] is not None
    assert result["meaningful"] == {"categorical": True, "valence": True, "arousal": True}
    assert set(evaluation_faces(model, "val").values_list("id", flat=True)) == {f.id for f in blind}


def test_reviewed_imported_and_gold_labels_count_but_a_copied_suggestion_does_not(biased, settings):
    model, kept, blind = biased
    reviewer = make_user("rev", "reviewer")
    lead = make_user("lead", "admin")
    # A reviewer who takes the model's suggestion as it stands decides nothing against it.
    copied = kept[0]
    suggestion = Suggestion.objects.get(face=copied, suggester=model)
    decision_make(face=copied, reviewer=reviewer, category=ANGER, valence=suggestion.valence,
                  arousal=suggestion.arousal, source="suggestion", suggestion=suggestion)
    # A reviewer's own label, an imported one and a gold reference are independent of it.
    decision_make(face=kept[1], reviewer=reviewer, category=HAPPY, valence=0.5, arousal=0.2)
    faces_final_labels_store({kept[2].id: Label(SAD, -0.5, -0.2)}, FinalSource.IMPORT)
    gold_mark(face=kept[3], category=HAPPY, valence=0.6, arousal=0.4, by=lead)
    assert Face.objects.get(pk=kept[3].pk).final_source == FinalSource.GOLD

    result = suggester_evaluate(model, "val")
    assert result["faces"] == 43 and result["left_out"] == 37
    assert {k: v for k, v in result["sources"].items() if v} == {"single": 40, "review": 1, "import": 1, "gold": 1}
    assert result["categorical"]["acc"] == pytest.approx(10 / 43)


def test_the_table_prints_n_intervals_and_marks_too_few_faces(biased, settings):
    model, kept, blind = biased
    out = io.StringIO()
    call_command("evaluate", model="biased:1", no_queue=True, stdout=out)
    text = out.getvalue()
    assert "Evaluation faces (final label independent of the model's suggestion): 40" in text
    assert "Left out, their label rests on answers given with a suggestion in view: 40" in text
    assert "Categorical model (n=40)" in text and "95% interval" in text and "ACC" in text
    assert "0.25" in text and "not meaningful" not in text
    settings.EVALUATION_MIN_N = 41
    out = io.StringIO()
    call_command("evaluate", model="biased:1", no_queue=True, stdout=out)
    text = out.getvalue()
    assert "0.25*" in text and "* not meaningful: fewer than 41 faces" in text
    assert suggester_evaluate(model, "val")["meaningful"]["categorical"] is False


def test_the_dashboard_and_the_api_show_the_honest_numbers(biased, client):
    model, kept, blind = biased
    client.force_login(make_user("rev", "reviewer"))
    data = client.get("/api/review/evaluation/?split=val").json()
    assert data["faces"] == 40 and data["categorical"]["acc"] == pytest.approx(0.25)
    page = client.get("/review/dashboard/?refresh=1").content.decode()
    assert "this model (n=40)" in page and "40 left out" in page and "95% interval" in page


def test_the_dashboard_says_when_its_intervals_are_earlier_ones_and_the_api_which(biased, client, settings, tmp_path):
    """A bootstrap over EVALUATION_INLINE_CELLS is the worker's (no worker here: the broker is a folder): the
    page shows today's measures with no intervals yet and says so, then with the intervals it kept."""
    from django.core.cache import cache

    from tests.suggestions.test_worker import folder_broker

    model, kept, blind = biased
    client.force_login(make_user("rev", "reviewer"))
    cache.clear()
    page = client.get("/review/dashboard/?refresh=1").content.decode()
    assert "evaluation-intervals-earlier" not in page  # 40 faces: the bootstrap ran in the request
    settings.EVALUATION_INLINE_CELLS = 0
    decision_make(face=blind[0], reviewer=make_user("rev2", "reviewer"), category=HAPPY, valence=0.5, arousal=0.2)
    with folder_broker(tmp_path) as queue:
        page = client.get("/review/dashboard/?refresh=1").content.decode()
        data = client.get("/api/review/evaluation/?split=val").json()
        queued = len(list(queue.glob("*.msg")))
    assert 'id="evaluation-intervals-earlier"' in page and "The intervals are those of 40 faces at" in page
    assert "the worker is computing today's" in page and queued == 1
    assert data["intervals_of"]["current"] is False and data["intervals_of"]["faces"] == 40
    cache.clear()  # nothing kept: no intervals at all until the worker's
    (tmp_path / "again").mkdir()
    with folder_broker(tmp_path / "again"):
        page = client.get("/review/dashboard/?refresh=1").content.decode()
    assert "No intervals yet: the worker is computing today's" in page


def store_real_faces(n):
    from annotator.faces.store import NewFace, faces_store

    folder = Path(__file__).resolve().parents[2] / "annotator" / "sample_faces"
    crops = sorted(folder.glob("*.jpg"))[:n]
    return [faces_store([NewFace(p.read_bytes(), split="val")])[0] for p in crops]


@pytest.mark.django_db
def test_a_model_that_is_not_active_gets_its_missing_predictions_with_now(data_root, tmp_path, settings):
    from annotator.suggestions.inference.checkpoint import checkpoint_config, checkpoint_save
    from annotator.suggestions.inference.network import ExpressionNet, NetConfig

    settings.EVALUATION_RESAMPLES = 50
    settings.EVALUATION_MIN_N = 5
    set_policy(overlap_share=0.0)  # one answer a face
    faces = store_real_faces(8)
    annotator = make_user("blind", "annotator")
    active = activate(Suggester.objects.create(name="active", version="1"))
    for i, face in enumerate(faces):  # six blind answers, two that kept the active model's suggestion
        shown = suggest(face, active, HAPPY)
        answer(face, annotator, HAPPY if i < 2 else SAD, shown=shown if i < 2 else None, blind=i >= 2)
    torch.manual_seed(0)
    net = ExpressionNet(NetConfig(num_classes=8, width=8, layers=(1, 1, 1, 1), input_size=64))
    path = checkpoint_save(tmp_path / "m.safetensors", model=net, config=checkpoint_config(net.config, name="fresh",
                                                                                   version="2"))
    fresh = Suggester.objects.create(name="fresh", version="2", kind=Suggester.Kind.CHECKPOINT, path=str(path))

    out = io.StringIO()
    call_command("evaluate", model="fresh:2", no_queue=True, stdout=out)
    assert "Pending, no prediction of this model yet: 6" in out.getvalue()
    assert "6 evaluation faces still have no prediction" in out.getvalue()
    assert suggester_evaluate(fresh, "val")["categorical"]["n"] == 0

    out = io.StringIO()
    call_command("evaluate", model="fresh:2", now=True, no_progress=True, stdout=out)
    text = out.getvalue()
    assert "Predicted 6 of 6 evaluation faces that lacked a prediction of fresh 2" in text
    assert "Pending, no prediction of this model yet: 0" in text and "Categorical model (n=6)" in text
    # Only the evaluation faces were predicted, not the two whose label echoes the active model.
    predicted = set(Suggestion.objects.filter(suggester=fresh).values_list("face_id", flat=True))
    assert predicted == {f.id for f in faces[2:]}
    assert not active_in(fresh)
    result = suggester_evaluate(fresh, "val")
    assert result["pending"] == 0 and result["categorical"]["n"] == 6
    assert result["intervals"]["categorical"]["acc"] is not None
