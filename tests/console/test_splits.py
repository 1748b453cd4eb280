"""Assigning splits in bulk: stratified by category, grouped by photo, deterministic, only the chosen
faces, nothing written by a preview, bad shares refused naming the field; the command and the history."""
from collections import defaultdict

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotator.domain.splitting import SharesError, assign, shares_parse
from annotator.models import ConsoleAction, Face, Project
from annotator.projects.services import project_create
from annotator.splits.selectors import SPLITS, SplitPlanError, split_plan
from annotator.splits.services import PlanChanged, splits_apply
from tests.console.split_helpers import bulk_faces, splits_by_id
from tests.review_factories import suggest, suggester

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return Project.objects.default()


def test_every_category_is_cut_by_the_shares_and_no_photo_straddles(project):
    bulk_faces(project, 3000, unlabelled_every=17)
    plan = split_plan(project, {"train": 0.8, "val": 0.2}, seed=3)
    assert plan.total == 3000 and sum(plan.counts.values()) == 3000
    for row in plan.rows():
        # Photos of up to 3 faces of random categories: a photo goes with the category most of its faces have,
        # so a rare category's faces in other categories' photos land by chance (a few points off).
        assert row["faces"] < 50 or abs(row["shares"][1] - 0.2) <= 0.08, row
    assert abs(plan.counts["val"] / 3000 - 0.2) < 0.01
    assert plan.largest_share_error < 0.06
    splits_apply(plan)
    photos = defaultdict(set)
    for source, split in Face.objects.filter(project=project).values_list("source", "split"):
        photos[source].add(split)
    assert all(len(s) == 1 for s in photos.values()), "a photo's faces straddle splits"
    assert {s for v in photos.values() for s in v} == {"train", "val"}


def test_faces_alone_in_their_photo_are_cut_exactly(project):
    bulk_faces(project, 2000, max_per_photo=1)
    plan = split_plan(project, {"train": 0.85, "val": 0.15}, seed=1)
    for row in plan.rows():  # AffectNet's case: within one face of the share in every category
        assert abs(row["counts"][1] - 0.15 * row["faces"]) <= 1, row


def test_faces_without_a_label_are_stratified_by_their_suggestion(project):
    ids = bulk_faces(project, 40, unlabelled_every=1, max_per_photo=1)
    model = suggester()
    for face in Face.objects.filter(pk__in=ids[:20]):
        suggest(face, model, 3, 0.2, 0.6)
    plan = split_plan(project, {"train": 0.5, "val": 0.5})
    rows = {row["name"]: row for row in plan.rows()}
    assert rows["Surprise"]["faces"] == 20 and rows["unlabelled"]["faces"] == 20
    assert rows["Surprise"]["counts"] == [10, 10] and rows["unlabelled"]["counts"] == [10, 10]


def test_the_same_seed_gives_the_same_plan_and_another_seed_another(project):
    bulk_faces(project, 500)
    first, again = split_plan(project, {"train": 0.9, "val": 0.1}, seed=7), split_plan(project, {"train": 0.9, "val": 0.1}, seed=7)
    assert first.digest == again.digest and np.array_equal(first.split_index, again.split_index)
    assert split_plan(project, {"train": 0.9, "val": 0.1}, seed=8).digest != first.digest


def test_a_preview_changes_nothing(project):
    bulk_faces(project, 300)
    before = splits_by_id(project)
    plan = split_plan(project, {"train": 0.9, "val": 0.1})
    assert plan.changed == 300
    assert splits_by_id(project) == before and not ConsoleAction.objects.exists()


def test_only_the_chosen_faces_change_and_a_new_face_follows_its_photo(project):
    old_train = bulk_faces(project, 200, split="train", seed=1, max_per_photo=1)
    old_val = bulk_faces(project, 50, split="val", seed=2, max_per_photo=1)
    new = bulk_faces(project, 300, seed=3)
    # A new face cut from a photo whose other face is in val already.
    val_photo = Face.objects.get(pk=old_val[0]).source
    Face.objects.filter(pk=new[0]).update(source=val_photo)
    other = project_create(slug="other", name="Other")
    elsewhere = bulk_faces(other, 30, seed=4)
    plan = split_plan(project, {"train": 0.5, "val": 0.5}, seed=1)
    assert plan.total == 300 and plan.pinned == 1
    splits_apply(plan)
    after = splits_by_id(project)
    assert all(after[i] == "train" for i in old_train) and all(after[i] == "val" for i in old_val)
    assert after[new[0]] == "val"
    assert all(after[i] in SPLITS for i in new)
    assert set(Face.objects.filter(pk__in=elsewhere).values_list("split", flat=True)) == {"unassigned"}
    # "all": the faces in splits are divided again too.
    plan = split_plan(project, {"train": 0.9, "val": 0.1}, faces="all", seed=1)
    assert plan.total == 550


def test_applying_writes_in_one_go_and_keeps_the_options_and_counts_in_the_history(project, admin_user_role):
    bulk_faces(project, 400)
    plan = split_plan(project, {"train": 0.9, "val": 0.1}, seed=5)
    summary = splits_apply(plan, user=admin_user_role, expected_digest=plan.digest)
    assert summary["counts"] == plan.counts and summary["changed"] == 400
    written = Face.objects.filter(project=project).values_list("split", flat=True)
    assert {s: list(written).count(s) for s in SPLITS} == plan.counts
    action = ConsoleAction.objects.get()
    assert action.action == "splits.assign" and action.user == admin_user_role and action.project == project
    assert action.details["shares"] == {"train": 0.9, "val": 0.1} and action.details["seed"] == 5
    assert action.details["counts"] == plan.counts and "train/val 90/10" in action.summary
    assert sum(sum(c.values()) for c in action.details["per_category"].values()) == 400


def test_a_plan_whose_faces_changed_since_the_preview_is_refused(project):
    bulk_faces(project, 100)
    plan = split_plan(project, {"train": 0.9, "val": 0.1})
    bulk_faces(project, 5, seed=9)  # an import meanwhile
    with pytest.raises(PlanChanged):
        splits_apply(plan, expected_digest=plan.digest)
    assert set(Face.objects.values_list("split", flat=True)) == {"unassigned"} and not ConsoleAction.objects.exists()


@pytest.mark.parametrize("text, words", [
    ("train=0.9,val=0.2", "add up to 1.1"),
    ("train=0.9,test=0.1", "'test' is not a split"),
    ("train=abc", "train: 'abc' is not a number"),
    ("train=1.5,val=-0.5", "train: 1.5 is not between 0 and 1"),
    ("train:0.9", "is not SPLIT=SHARE"),
    ("", "give a share"),
])
def test_bad_shares_are_refused_naming_the_field(text, words):
    with pytest.raises(SharesError) as caught:
        shares_parse(text, SPLITS)
    assert caught.value.field == "shares" and words in caught.value.message


def test_shares_as_percentages_and_a_split_left_out(project):
    assert shares_parse("train=90, val=10", SPLITS) == {"train": 0.9, "val": 0.1}
    bulk_faces(project, 20)
    assert split_plan(project, shares_parse("train=1", SPLITS)).counts == {"train": 20, "val": 0}
    with pytest.raises(SplitPlanError) as caught:
        split_plan(project, {"train": 1.0}, faces="some")
    assert caught.value.field == "faces"


def test_the_assignment_itself_keeps_groups_whole_and_pins_win():
    strata = np.array([0, 0, 1, 1, 1, 2])
    groups = np.array([5, 5, 6, 7, 7, 8])
    pinned = np.array([-1, -1, -1, -1, 1, -1])
    result = assign(strata, groups, [0.5, 0.5], seed=0, pinned_split=pinned).split_index
    assert result[0] == result[1] and result[3] == result[4] == 1


def test_the_command_prints_the_preview_applies_it_and_refuses_bad_shares(project, capsys):
    bulk_faces(project, 200)
    call_command("assign_splits", "--shares", "train=0.9,val=0.1", "--dry-run")
    out = capsys.readouterr().out
    assert "largest share error" in out and "dry run" in out and "Happiness" in out
    assert set(Face.objects.values_list("split", flat=True)) == {"unassigned"}
    call_command("assign_splits", "--project", project.slug, "--shares", "train=90,val=10", "--seed", "2")
    assert set(Face.objects.values_list("split", flat=True)) == {"train", "val"}
    assert ConsoleAction.objects.get().user is None
    with pytest.raises(CommandError, match="--shares: the shares add up to 0.8"):
        call_command("assign_splits", "--shares", "train=0.7,val=0.1")


def test_the_command_applies_only_the_plan_whose_digest_it_expects(project, admin_user_role, capsys):
    bulk_faces(project, 100)
    digest = split_plan(project, {"train": 0.9, "val": 0.1}, seed=4).digest
    call_command("assign_splits", "--shares", "train=0.9,val=0.1", "--seed", "4", "--dry-run")
    assert f"plan digest: {digest}" in capsys.readouterr().out
    bulk_faces(project, 5, seed=9)  # an import since the preview
    with pytest.raises(CommandError, match="--expect-digest: the faces changed since the preview .* preview again"):
        call_command("assign_splits", "--shares", "train=0.9,val=0.1", "--seed", "4", "--expect-digest", digest)
    assert set(Face.objects.values_list("split", flat=True)) == {"unassigned"} and not ConsoleAction.objects.exists()
    fresh = split_plan(project, {"train": 0.9, "val": 0.1}, seed=4).digest
    call_command("assign_splits", "--shares", "train=0.9,val=0.1", "--seed", "4", "--expect-digest", fresh,
                 "--by", admin_user_role.username)
    assert "applied: 105 faces changed split" in capsys.readouterr().out
    assert set(Face.objects.values_list("split", flat=True)) == {"train", "val"}
    assert ConsoleAction.objects.get().user == admin_user_role
    with pytest.raises(CommandError, match="--by: no user 'nobody'"):
        call_command("assign_splits", "--shares", "train=0.9,val=0.1", "--by", "nobody")
