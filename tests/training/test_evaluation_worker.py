"""`evaluate` of a model that is not active queues its missing predictions on the model queue; a real worker
(Redis, `celery worker`) computes them, and the next `evaluate` scores every evaluation face."""
import io

import pytest
import torch
from django.core.management import call_command

from annotator.faces.services import face_refresh_final_label
from annotator.faces.store import faces_store
from annotator.models import Annotation, Face, Suggester, Suggestion
from tests.conftest import make_user, wait_for
from tests.project_helpers import activate, active_in, set_policy
from tests.suggestions.test_worker import photo, redis_broker, roles, worker_factory  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def tiny_checkpoint(path, name):
    from annotator.suggestions.inference.checkpoint import checkpoint_config, checkpoint_save
    from annotator.suggestions.inference.network import ExpressionNet, NetConfig

    torch.manual_seed(len(name))
    net = ExpressionNet(NetConfig(num_classes=8, width=8, layers=(1, 1, 1, 1), input_size=64))
    checkpoint_save(path, model=net, config=checkpoint_config(net.config, name=name, version="1"))
    model = Suggester.objects.create(name=name, version="1", kind=Suggester.Kind.CHECKPOINT, path=str(path))
    return activate(model) if name == "active" else model


def test_evaluate_queues_what_the_model_lacks_and_the_worker_computes_it(data_root, tmp_path, settings,
                                                                         redis_broker, worker_factory):
    from annotator.faces.store import NewFace

    set_policy(overlap_share=0.0)
    settings.EVALUATION_RESAMPLES = 50
    tiny_checkpoint(tmp_path / "active.safetensors", "active")  # what the faces' own suggestions come from: quick
    fresh = tiny_checkpoint(tmp_path / "fresh.safetensors", "fresh")
    faces = faces_store([NewFace(crop_jpeg=photo(n), source=n, split="val") for n in
                         ("smiling_obama_224.jpg", "biden_224.jpg", "speaking_obama_224.jpg")])
    annotator = make_user("blind", "annotator")
    for face in faces:
        Annotation.objects.create(face=face, annotator=annotator, category=1, valence=0.5, arousal=0.2,
                                  shown_blind=True)
        Face.objects.filter(pk=face.pk).update(answer_count=1)
        face_refresh_final_label(face_id=face.pk)
    worker = worker_factory(redis_broker, SUGGEST_DEVICE="cpu")

    out = io.StringIO()
    call_command("evaluate", model="fresh:1", stdout=out)
    text = out.getvalue()
    assert "Queued 3 of 3 evaluation faces that lack a prediction of fresh 1 on the model queue ('model')" in text

    def predicted():
        return Suggestion.objects.filter(suggester=fresh, face__in=faces).count() == 3

    try:
        wait_for(predicted, 90, "the worker's predictions")
    except AssertionError:
        raise AssertionError(worker.output()) from None
    out = io.StringIO()
    call_command("evaluate", model="fresh:1", stdout=out)
    text = out.getvalue()
    assert "Pending, no prediction of this model yet: 0" in text and "Categorical model (n=3)" in text
    assert "Queued" not in text  # nothing left to queue
    assert not active_in(fresh)
