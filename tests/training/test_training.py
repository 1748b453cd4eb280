"""The learning loop: the network trains on real faces, checkpoints round-trip, the seed's table is right,
runs resume exactly, models are recorded and activated, and the active-learning order."""
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.domain.evaluation_tables import format_seed_table
from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.checkpoint import (
    CheckpointError,
    CheckpointModel,
    checkpoint_config,
    checkpoint_load,
    checkpoint_save,
    model_from_checkpoint,
    predict_batches,
)
from annotator.suggestions.inference.network import ExpressionNet, NetConfig, load_backbone_weights
from annotator.suggestions.priority import MAX_RARITY, mixed_priority, uncertainty_priority
from annotator.suggestions.selectors import suggester_active
from annotator.training import evaluation
from annotator.training.data import samples_from_affectnet, samples_from_folder
from annotator.training.samples import TrainingError
from annotator.training.trainer import FINAL, LAST, CropDataset, TrainConfig, class_weights, expression_loss, train
from tests.project_helpers import activate, active_in

SAMPLE_FACES = Path(__file__).resolve().parents[2] / "annotator" / "sample_faces"
TINY = dict(width=8, layers=(1, 1, 1, 1), input_size=64)


@pytest.fixture(scope="module")
def faces():
    return samples_from_folder(SAMPLE_FACES)


@torch.no_grad()
def mean_loss(model, samples, *, batch_size=64):
    """The model's loss on the samples on the CPU, without augmentation and in eval mode."""
    model.eval()
    loader = torch.utils.data.DataLoader(CropDataset(samples, input_size=model.config.input_size, augment=False),
                                         batch_size=batch_size)
    weights = class_weights(samples, model.config.num_classes)
    total, count = 0.0, 0
    for pixels, target, va, mask in loader:
        logits, va_pred = model(model.preprocess(pixels))
        loss, _, _ = expression_loss(logits, va_pred, target, va, mask, weights=weights)
        total += float(loss) * len(target)
        count += len(target)
    return total / max(1, count)


def crops_of(samples):
    from PIL import Image

    return np.stack([np.asarray(Image.open(s.image).convert("RGB")) for s in samples])


def test_training_on_real_faces_lowers_the_loss(faces, tmp_path):
    net = NetConfig(num_classes=11, **TINY)
    torch.manual_seed(0)
    before = mean_loss(ExpressionNet(net), faces)
    result = train(faces, out_dir=tmp_path, name="t", version="1", net_config=net,
                   train_config=TrainConfig(epochs=6, batch_size=8, lr=3e-3, workers=0), progress=False,
                   log=lambda _: None)
    after = mean_loss(model_from_checkpoint(checkpoint_load(result.checkpoint)), faces)
    assert after < 0.75 * before, (before, after)
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4, 5, 6]
    assert result.data["per_category"] == {**{n: 0 for n in result.data["per_category"]},
                                           "Neutral": 6, "Happiness": 6, "No-Face": 12}
    assert (tmp_path / LAST).is_file()


def test_eight_class_network_leaves_out_none_uncertain_no_face(faces, tmp_path):
    pretrained = ExpressionNet(NetConfig(num_classes=11, **TINY)).backbone.state_dict()
    torch.save(pretrained, tmp_path / "pretrained.pth")
    result = train(faces, out_dir=tmp_path / "run", name="t8", version="1", net_config=NetConfig(num_classes=8, **TINY),
                   train_config=TrainConfig(epochs=1, batch_size=8, workers=0), progress=False, log=lambda _: None,
                   val_samples=faces, backbone=tmp_path / "pretrained.pth")
    assert result.backbone_report["loaded"] == len(pretrained) and result.backbone_report["missing"] == []
    assert result.data["faces"] == 12  # the 12 No-Face crops are not in an 8-label set
    assert result.evaluation["categorical"]["n"] == 12 and result.evaluation["valence"]["n"] == 12


def test_class_weights_are_inverse_frequency(faces):
    weights = class_weights(faces, 11)
    # 6 Neutral, 6 Happiness, 12 No-Face over 3 present classes: 24 / (3 * n).
    assert weights[0] == pytest.approx(24 / 18) and weights[1] == pytest.approx(24 / 18)
    assert weights[10] == pytest.approx(24 / 36) and weights[5] == 1.0


def test_checkpoint_reloads_with_the_same_outputs(faces, tmp_path):
    torch.manual_seed(3)
    model = ExpressionNet(NetConfig(num_classes=8, **TINY))
    with torch.no_grad():  # move BatchNorm statistics away from their defaults so they must round-trip
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = checkpoint_save(tmp_path / "m.safetensors", model=model,
                           config=checkpoint_config(model.config, name="net", version="v7"))
    crops = crops_of(faces[:5])
    expected_p, expected_va = predict_batches(model, crops, device=torch.device("cpu"))

    suggester = CheckpointModel(path, device="cpu")
    predictions = suggester.predict(crops)
    assert (suggester.name, suggester.version) == ("net", "v7")
    assert predictions.probabilities.shape == (5, 11)
    np.testing.assert_allclose(predictions.probabilities[:, :8], expected_p, rtol=1e-6, atol=1e-7)
    assert np.all(predictions.probabilities[:, 8:] == 0)  # an 8-class model gives None/Uncertain/No-Face 0
    np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(predictions.valence, expected_va[:, 0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(predictions.arousal, expected_va[:, 1], rtol=1e-6, atol=1e-7)
    assert np.all(np.abs(predictions.valence) <= 1)


class NotATensor:
    pass


def test_checkpoint_loading_never_unpickles_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "annotator-expression-net", "config": {}, "model": {}, "x": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        checkpoint_load(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        CheckpointModel(tmp_path / "junk.pt")


def test_resumed_run_ends_where_an_uninterrupted_one_does(faces, tmp_path):
    net = NetConfig(num_classes=11, **TINY)
    plan = TrainConfig(epochs=2, batch_size=8, workers=0)
    common = dict(progress=False, name="r", version="1", net_config=net, train_config=plan)
    straight = train(faces, out_dir=tmp_path / "a", log=lambda _: None, **common)

    def ctrl_c_after_first_epoch(message):  # the user stops the run once epoch 1 is checkpointed
        if message.startswith("epoch 1:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(faces, out_dir=tmp_path / "b", log=ctrl_c_after_first_epoch, **common)
    assert not (tmp_path / "b" / FINAL).exists()
    resumed = train(faces, out_dir=tmp_path / "b", resume=True, log=lambda _: None, **common)
    a, b = checkpoint_load(straight.checkpoint)["model"], checkpoint_load(resumed.checkpoint)["model"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history[1]["loss"] == pytest.approx(straight.history[1]["loss"])


def test_backbone_weights_load_by_torchvision_names(tmp_path):
    source = ExpressionNet(NetConfig(num_classes=11, **TINY)).backbone.state_dict()
    torch.nn.init.constant_(source["conv1.weight"], 0.25)
    state = {f"module.{k}": v for k, v in source.items()}
    state["fc.weight"] = torch.zeros(1000, 64)  # a torchvision ResNet's classifier: not ours
    state["layer1.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)  # wrong shape: skipped, reported
    path = tmp_path / "backbone.pth"
    torch.save(state, path)
    model = ExpressionNet(NetConfig(num_classes=11, **TINY))
    report = load_backbone_weights(model, path)
    assert torch.all(model.backbone.conv1.weight == 0.25)
    assert report["unexpected"] == ["fc.weight"]
    assert report["mismatched"] == ["layer1.0.conv1.weight"] and "layer1.0.conv1.weight" in report["missing"]


def test_evaluation_matches_a_hand_worked_case():
    # Four faces; true categories 0, 1, 1, 2; the model's most probable are 0, 1, 2, 2.
    # A fifth face (No-Face) is outside the eight and is left out of every measure.
    p = np.zeros((5, 11))
    p[0, [0, 1, 2]] = [0.7, 0.2, 0.1]
    p[1, [0, 1, 2]] = [0.1, 0.8, 0.1]
    p[2, [0, 1, 2]] = [0.1, 0.3, 0.6]
    p[3, [0, 1, 2]] = [0.2, 0.1, 0.7]
    p[4, [0, 10]] = [0.5, 0.5]
    predictions = Predictions(p.astype(np.float32), np.array([0.4, -0.2, -0.1, 0.1, 0.9], np.float32),
                              np.array([0.0, 0.5, 0.5, -0.5, 0.9], np.float32))
    labels = [(0, 0.5, 0.2), (1, -0.5, 0.6), (1, 0.5, 0.4), (2, 0.0, -0.2), (10, None, None)]
    table = evaluation.evaluate_predictions(labels, predictions)
    cat = table["categorical"]
    assert cat["n"] == 4
    assert cat["acc"] == pytest.approx(3 / 4)
    # F1 per class: 0 -> 1; 1 -> P 1, R 1/2, F1 2/3; 2 -> P 1/2, R 1, F1 2/3; macro 7/9.
    assert cat["f1"] == pytest.approx(7 / 9)
    # kappa: p_o = 3/4; p_e = 1/4*1/4 + 2/4*1/4 + 1/4*2/4 = 5/16; (3/4 - 5/16) / (11/16) = 7/11.
    assert cat["kappa"] == pytest.approx(7 / 11)
    # AUC one-vs-rest: class 0 (positive 0.7 vs 0.1, 0.1, 0.2) = 1; class 1 (0.8, 0.3 vs 0.2, 0.1) = 1;
    # class 2 (0.7 vs 0.1, 0.1, 0.6) = 1.  AUC-PR likewise 1 for each.
    assert cat["auc"] == pytest.approx(1.0) and cat["auc_pr"] == pytest.approx(1.0)
    val = table["valence"]
    assert val["n"] == 4
    # errors 0.1, 0.3, 0.6, 0.1: RMSE sqrt(0.47 / 4)
    assert val["rmse"] == pytest.approx(math.sqrt(0.47 / 4), rel=1e-6)
    # signs (+,+) (-,-) (+,-) (0,+): 2 of 4 agree
    assert val["sagr"] == pytest.approx(0.5)
    # CCC: true mean 0.125, pred mean 0.05; cov = mean((t - 0.125)(p - 0.05)) = 0.225 / 4 = 0.05625,
    # var_t = 0.171875, var_p = 0.0525, (0.125 - 0.05)^2 = 0.005625: 2 * 0.05625 / 0.23 = 0.48913.
    assert val["ccc"] == pytest.approx(0.1125 / 0.23, rel=1e-5)
    aro = table["arousal"]
    assert aro["rmse"] == pytest.approx(math.sqrt((0.04 + 0.01 + 0.01 + 0.09) / 4), rel=1e-6)
    text = format_seed_table(table, title="hand")
    assert text.startswith("Evaluated on 4 faces of categories 0,1,2,3,4,5,6,7 (4 with valence/arousal)")
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[3:] if line.strip()}
    # Each measure, its 95% bootstrap interval, the seed's number.
    assert rows["ACC"][::2] == ["0.75", "0.58"] and rows["KAPPA"][::2] == ["0.64", "0.51"]
    assert rows["ACC"][1] == "[{:.2f},{:.2f}]".format(*table["intervals"]["categorical"]["acc"])
    assert rows["CCC"][::3] == [f"{val['ccc']:.2f}", f"{aro['ccc']:.2f}"] and rows["CCC"][2::3] == ["0.60", "0.34"]


def test_uncertainty_is_normalised_entropy():
    assert uncertainty_priority([1.0] + [0.0] * 10) == 0.0
    assert uncertainty_priority([1 / 11] * 11) == pytest.approx(1.0)
    assert uncertainty_priority([1 / 8] * 8 + [0.0] * 3) == pytest.approx(1.0)  # an unsure 8-class model
    assert uncertainty_priority([0.5, 0.5] + [0.0] * 9) == pytest.approx(1.0)
    assert 0 < uncertainty_priority([0.9, 0.1] + [0.0] * 9) < uncertainty_priority([0.6, 0.4] + [0.0] * 9)


def test_mixed_priority_puts_unsure_and_rare_before_sure_and_common():
    sure_happy = [0.0, 1.0] + [0.0] * 9
    sure_contempt = [0.0] * 7 + [1.0] + [0.0] * 3
    unsure = [0.5, 0.5] + [0.0] * 9
    assert mixed_priority(sure_happy) == pytest.approx(0.0)
    assert mixed_priority(sure_contempt) == pytest.approx(MAX_RARITY)
    assert mixed_priority(unsure) > mixed_priority(sure_happy)
    assert mixed_priority(unsure, rarity_weight=0.0) == pytest.approx(MAX_RARITY)
    assert mixed_priority(sure_contempt, rarity_weight=0.0) == 0.0


# --- Django: the command, the record, activation, the queue order ---------------------------------

def store_sample_faces(samples, splits):
    from annotator.faces.store import NewFace, faces_store
    from annotator.models import Face

    created = []
    for sample, split in zip(samples, splits):
        face = faces_store([NewFace(Path(sample.image).read_bytes(), split=split)])[0]
        Face.objects.filter(pk=face.pk).update(final_category=sample.category, final_valence=sample.valence,
                                               final_arousal=sample.arousal, final_source="import")
        created.append(face)
    return created


@pytest.fixture
def checkpoint_dir(tmp_path, settings):
    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.SUGGEST_ON_ACTIVATE = False  # no broker in these tests; the worker's tests cover the job
    return settings.CHECKPOINT_DIR


@pytest.mark.django_db
def test_train_suggester_records_evaluates_and_activates(faces, data_root, checkpoint_dir):
    from annotator.models import Face, Suggester
    from annotator.suggestions.services import suggestions_compute
    from annotator.training.data import training_samples
    from annotator.training.selectors import suggester_evaluate

    # Every fourth crop goes to validation (one of each photo's views, and more).
    splits = ["val" if i % 4 == 0 else "train" for i in range(len(faces))]
    store_sample_faces(faces, splits)
    old = activate(Suggester.objects.create(name="old", version="1"))
    out = io.StringIO()
    call_command("train_suggester", epochs=2, batch_size=8, categories=11, depth=10, width=8, input_size=64,
                 name="net", model_version="v1", activate=True, no_progress=True, stdout=out)
    suggester = Suggester.objects.get(name="net", version="v1")
    assert suggester.kind == Suggester.Kind.CHECKPOINT and active_in(suggester)
    assert not active_in(old)
    assert Path(suggester.path) == (checkpoint_dir / "net" / "v1" / "model.safetensors").resolve()
    assert suggester.training["train"]["faces"] == 18 and suggester.training["val"]["faces"] == 6
    assert suggester.training["train"]["per_category"]["No-Face"] == 9
    assert len(suggester.training["history"]) == 2
    assert suggester.evaluation["categorical"]["n"] == 6
    assert suggester.config["labels"] == list(range(11))
    text = out.getvalue()
    assert "Dimensional model (" in text and "\nCCC " in text and "seed" in text and "now the active suggester" in text
    model = CheckpointModel(suggester.path)  # what the worker loads
    assert model.predict(crops_of(faces[:2])).probabilities.shape == (2, 11)
    # The reloaded model (what the worker runs) on the val split's final labels gives the same table.
    again = evaluation.samples_evaluate(training_samples(splits=["val"]), model.predict, categories=range(11))
    assert again["categorical"] == pytest.approx(suggester.evaluation["categorical"])
    assert again["valence"] == pytest.approx(suggester.evaluation["valence"])
    # Its stored suggestions, judged as the dashboard, the API and `evaluate` do, give the same table.
    suggestions_compute(face_ids=Face.objects.filter(split="val").values_list("id", flat=True), suggester=suggester,
                        model=model)
    stored = suggester_evaluate(suggester, "val", categories=range(11))
    assert stored["faces"] == 6 and stored["pending"] == 0
    for part in ("categorical", "valence", "arousal"):
        assert stored[part] == pytest.approx(suggester.evaluation[part], rel=1e-4), part

    with pytest.raises(CommandError, match="holds a run already"):
        call_command("train_suggester", epochs=1, name="net", model_version="v1", stdout=io.StringIO())


@pytest.mark.parametrize("row, field", [("a.jpg,15,,", "category"), ("a.jpg,1,5.0,0.2", "valence"),
                                        ("a.jpg,10,0.3,", "valence"), ("a.jpg,2,-0.4,", "arousal"),
                                        ("a.jpg,11,,", "category")])
def test_a_folder_label_out_of_range_stops_naming_the_line_and_field(tmp_path, row, field):
    """A labels.csv follows the labels' rules: category 15 is not dropped silently, valence 5 not trained on."""
    (tmp_path / "labels.csv").write_text(f"file,category,valence,arousal\nb.jpg,10,,\n{row}\n")
    with pytest.raises(TrainingError, match=f"line 3: bad label \\({field}: "):
        samples_from_folder(tmp_path)
    # Category-only rows (no point at all) stay allowed: the trainer leaves V/A out for them.
    (tmp_path / "labels.csv").write_text("file,category,valence,arousal\nb.jpg,10,-2,-2\nc.jpg,1,0.5,0.2\nd.jpg,3,,\n")
    assert [(s.category, s.valence, s.arousal) for s in samples_from_folder(tmp_path)] == [
        (10, None, None), (1, 0.5, 0.2), (3, None, None)]


@pytest.mark.django_db
def test_train_suggester_stops_clearly_without_training_faces(checkpoint_dir):
    with pytest.raises(CommandError, match="no faces with a final label in the train split"):
        call_command("train_suggester", epochs=1, stdout=io.StringIO())


@pytest.mark.django_db
def test_admin_make_active_switches_the_active_suggester(admin_client, checkpoint_dir):
    from annotator.models import Suggester

    first = activate(Suggester.objects.create(name="a", version="1"))
    second = Suggester.objects.create(name="b", version="1", evaluation={"categorical": {"acc": 0.625, "n": 8}})
    assert "0.625 on 8" in admin_client.get("/admin/annotator/suggester/").content.decode()
    response = admin_client.post("/admin/annotator/suggester/",
                                 {"action": "make_active", "_selected_action": [second.pk]}, follow=True)
    assert response.status_code == 200
    assert [suggester_active()] == [second]
    assert not active_in(first)


@pytest.mark.django_db
def test_activation_orders_open_faces_by_uncertainty_and_rarity(faces, data_root, checkpoint_dir, settings,
                                                                django_capture_on_commit_callbacks, eager_tasks):
    from annotator.models import Face, Suggester, Suggestion
    from annotator.signals import suggestions_announce
    from annotator.suggestions.services import suggester_activate

    settings.QUEUE_ACTIVE_LEARNING = True
    settings.SWEEP_BATCH_SIZE = 2  # the re-prioritisation task takes 2 faces a batch: the third needs the next one
    stored = store_sample_faces(faces[:4], ["unassigned"] * 4)
    Face.objects.filter(pk__in=[f.pk for f in stored[:3]]).update(final_category=None, final_valence=None,
                                                                   final_arousal=None, final_source="")
    sure, unsure, rare, final = stored
    model = Suggester.objects.create(name="m", version="1", kind="checkpoint")
    for face, probs in ((sure, [0, 1.0] + [0] * 9), (unsure, [0.5, 0.5] + [0] * 9),
                        (rare, [0] * 7 + [1.0] + [0] * 3), (final, [0.5, 0.5] + [0] * 9)):
        Suggestion.objects.create(face=face, suggester=model, probabilities=probs, category=int(np.argmax(probs)),
                                  confidence=max(probs), valence=0.0, arousal=0.0)
    with django_capture_on_commit_callbacks(execute=True):
        suggester_activate(suggester_id=model.pk)
    priority = dict(Face.objects.values_list("id", "queue_priority"))
    assert priority[unsure.pk] > priority[sure.pk] and priority[rare.pk] > priority[sure.pk]
    assert priority[final.pk] == 0.0  # a final face is not in the queue: left alone

    # A new suggestion of the active model reorders its face (the worker sends suggestions_saved).
    Suggestion.objects.filter(face=sure, suggester=model).update(probabilities=[0.34, 0.33, 0.33] + [0] * 8)
    suggestion = Suggestion.objects.get(face=sure, suggester=model)
    suggestions_announce(suggester_id=suggestion.suggester_id, face_ids=[sure.pk], answered_face_ids=[])
    assert Face.objects.get(pk=sure.pk).queue_priority > priority[unsure.pk]


@pytest.mark.django_db
def test_activation_queues_the_suggestion_job_for_the_worker(settings, django_capture_on_commit_callbacks):
    """Through the real broker transport the settings configure (kombu's filesystem one without REDIS_URL)."""
    import base64
    import json

    from annotator.models import Suggester
    from annotator.suggestions.services import suggester_activate

    if not str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        pytest.skip("REDIS_URL is set: the worker tests cover the Redis broker")
    settings.SUGGEST_ON_ACTIVATE = True
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])
    before = set(folder.glob("*.msg")) if folder.exists() else set()
    model = Suggester.objects.create(name="q", version="1", kind="checkpoint")
    with django_capture_on_commit_callbacks(execute=True):
        suggester_activate(suggester_id=model.pk)
    sent = []
    for path in set(folder.glob("*.msg")) - before:
        message = json.loads(path.read_text())
        if message["headers"]["task"] == settings.SUGGEST_TASK_NAME:
            sent.append(message)
            path.unlink()  # the test's message is not left for a real worker
    assert len(sent) == 1
    assert sent[0]["properties"]["delivery_info"]["routing_key"] == settings.CELERY_TASK_DEFAULT_QUEUE  # it only fans out model tasks
    args, kwargs, _ = json.loads(base64.b64decode(sent[0]["body"]))
    from annotator.models import Project

    assert kwargs == {"suggester_id": model.pk, "project_id": Project.objects.default().pk}  # the project's faces


@pytest.mark.django_db
def test_train_suggester_resumes_a_run_and_updates_its_record(faces, data_root, checkpoint_dir):
    from annotator.models import Suggester

    store_sample_faces(faces, ["train"] * len(faces))
    tiny = dict(batch_size=8, categories=11, depth=10, width=8, input_size=64, name="net", no_progress=True,
                stdout=io.StringIO())
    call_command("train_suggester", epochs=1, model_version="v1", **tiny)
    assert len(Suggester.objects.get(name="net", version="v1").training["history"]) == 1
    out = io.StringIO()
    call_command("train_suggester", epochs=2, resume=True, **(tiny | {"stdout": out}))  # the newest run of "net"
    assert "resuming" in out.getvalue() and "after epoch 1" in out.getvalue()
    suggester = Suggester.objects.get(name="net", version="v1")
    assert [h["epoch"] for h in suggester.training["history"]] == [1, 2]
    assert suggester.evaluation == {}  # no val faces: not evaluated, and said so
    assert "not evaluated" in out.getvalue()
    with pytest.raises(CommandError, match="no run of other"):
        call_command("train_suggester", epochs=1, resume=True, name="other", stdout=io.StringIO())


def write_affectnet_split(split_dir, samples, first_id):
    (split_dir / "images").mkdir(parents=True)
    (split_dir / "annotations").mkdir()
    for offset, sample in enumerate(samples):
        stem = str(first_id + offset)
        (split_dir / "images" / f"{stem}.jpg").write_bytes(Path(sample.image).read_bytes())
        values = {"exp": str(sample.category),
                  "val": "-2" if sample.valence is None else str(sample.valence),
                  "aro": "-2" if sample.arousal is None else str(sample.arousal)}
        for part, value in values.items():
            np.save(split_dir / "annotations" / f"{stem}_{part}.npy", np.array(value))


def test_benchmark_prints_speed_and_the_seed_table_for_an_affectnet_folder(faces, tmp_path):
    write_affectnet_split(tmp_path / "train_set", faces[::2], 100)
    write_affectnet_split(tmp_path / "val_set", faces[1::2], 200)
    read = samples_from_affectnet(tmp_path / "val_set")
    assert [(s.face_id, s.category, s.valence) for s in read[:1]] == [(200, faces[1].category, faces[1].valence)]
    assert all(s.valence is None and s.arousal is None for s in read if s.category == 10)
    out = io.StringIO()
    call_command("benchmark_training", faces=str(tmp_path), steps=2, batch_size=4, depth=10, width=8, input_size=64,
                 short_epochs=1, stdout=out)
    text = out.getvalue()
    assert "cpu     float32" in text and "1.00x" in text
    assert "12 training crops, 12 validation crops" in text and "\nCCC " in text
    assert "same as the training run's evaluation" in text
