import json
from pathlib import Path

from member import Member
from status import Status
from search.ranking import AnswerChoice, positions, rank_population


def member(i, acc, prec, budget=50, size=1000, status="ok", seconds=1.0, folds=3):
    m = Member(id=i, config={"i": i}, model_size=size)
    m.record(budget, {"top3_accuracy": acc, "precision": prec, "status": status, "train_seconds": seconds,
                      "folds": [{}] * folds}, None)
    return m


def test_feasible_by_accuracy_then_infeasible_by_precision_then_failed():
    members = [member(0, 0.95, 0.30), member(1, 0.70, 0.50), member(2, 0.80, 0.40), member(3, 0.99, 0.9, status="diverged"),
               member(4, 0.90, 0.35)]
    order = [m.id for m in rank_population(members, min_precision=0.39)]
    assert order == [2, 1, 4, 0, 3]


def test_ties_go_to_the_smaller_then_the_cheaper_network():
    members = [member(0, 0.8, 0.5, size=2000), member(1, 0.8, 0.5, size=1000, seconds=5),
               member(2, 0.8, 0.5, size=1000, seconds=2)]
    assert [m.id for m in rank_population(members, 0.39)] == [2, 1, 0]


def test_the_population_ranks_a_higher_budget_first():
    a, b = member(0, 0.9, 0.5, budget=2, folds=1), member(1, 0.5, 0.5, budget=2, folds=1)
    b.record(50, {"top3_accuracy": 0.4, "precision": 0.1, "status": "ok", "folds": [{}] * 3}, None)
    assert [m.id for m in rank_population([a, b], 0.39)] == [1, 0]
    failed = member(2, 0.99, 0.9, budget=50, status="diverged")
    assert [m.id for m in rank_population([failed, a, b], 0.39)] == [1, 0, 2]  # a failure ranks last, whatever its budget


def test_positions():
    members = [member(0, 0.5, 0.5), member(1, 0.9, 0.5), member(2, 0.7, 0.5)]
    assert positions(members, 0.39) == [2, 0, 1]


def final_choice(members, min_precision, n_folds, metric="top3_accuracy"):
    choice = AnswerChoice(min_precision, n_folds, metric)
    for m in members:
        choice.offer(m)
    return choice.member, choice.feasible


def test_the_answer_is_the_same_whatever_order_the_members_are_told_in():
    members = [member(0, 0.9, 0.5), member(1, 0.9, 0.5), member(2, 0.95, 0.2), member(3, 0.8, 0.6)]
    assert {final_choice(order, 0.39, 3)[0].id for order in (members, members[::-1])} == {0}


def test_final_choice_prefers_feasible_then_highest_budget():
    low_budget_star = member(0, 0.99, 0.9, budget=6)
    full = member(1, 0.90, 0.5, budget=50)
    infeasible = member(2, 0.99, 0.1, budget=50)
    best, feasible = final_choice([low_budget_star, full, infeasible], 0.39, 3)
    assert best is full and feasible


def test_a_result_on_fewer_folds_is_never_the_answer():
    one_fold = member(0, 0.99, 0.9, budget=6, folds=1)
    assert final_choice([one_fold], 0.39, 3) == (None, False)
    assert final_choice([one_fold, member(1, 0.5, 0.2)], 0.39, 3)[0].id == 1


def test_final_choice_without_feasible_is_the_most_precise_and_labelled():
    best, feasible = final_choice([member(0, 0.9, 0.2), member(1, 0.5, 0.3)], 0.39, 3)
    assert best.id == 1 and not feasible
    assert final_choice([member(0, 0.9, 0.9, status="failed")], 0.39, 3) == (None, False)


def test_an_abandoned_job_leaves_the_member_judged_by_its_earlier_results():
    member = Member(id=0, config={}, model_size=10)
    earlier = {"status": Status.OK, "top3_accuracy": 0.8, "precision": 0.5, "train_seconds": 2.0}
    member.record(6, earlier, Path("member_0_budget_6.pt"))
    member.record(50, {"status": Status.ABANDONED, "top3_accuracy": 0.0, "precision": 0.0}, None)
    assert (member.budget, member.result, member.checkpoint) == (6, earlier, Path("member_0_budget_6.pt"))


def test_statuses_are_one_enum_written_as_plain_strings():
    assert Status("ok") is Status.OK and json.dumps({"status": Status.FAILED}) == '{"status": "failed"}'
    assert {s.value for s in Status} == {"ok", "diverged", "failed", "stopped", "abandoned", "crashed"}


def test_the_objective_chooses_which_accuracy_ranks_the_feasible_members():
    a, b = member(0, 0.9, 0.5), member(1, 0.8, 0.5)
    a.results[50]["top1_accuracy"], b.results[50]["top1_accuracy"] = 0.4, 0.6
    assert [m.id for m in rank_population([a, b], 0.39)] == [0, 1]
    assert [m.id for m in rank_population([a, b], 0.39, "top1_accuracy")] == [1, 0]
    assert final_choice([a, b], 0.39, 3, "top1_accuracy")[0] is b
