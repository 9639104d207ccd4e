"""Background jobs of the app states: cache hits finishing at once, waits on a served session's own
thread, and views built after their state's work finished."""

from __future__ import annotations

import weakref

import pytest

from atomsieve.app.background import Background
from atomsieve.app.compare_state import CompareState
from atomsieve.app.features_state import FeaturesState
from atomsieve.app.learning_curves import LearningCurves
from atomsieve.app.selection_state import SelectionState
from atomsieve.app.state import DatasetState
from atomsieve.app.studies_state import StudiesState
from atomsieve.datasets import load_default


class FinishedBeforeReturn(Background):
    """Every job is done before ``submit`` returns: what happens when all results are cache hits."""

    def submit(self, *args, **kwargs):
        job = super().submit(*args, **kwargs)
        job.thread.join()
        return job


@pytest.fixture(scope="module")
def test_split():
    data = DatasetState(dataset=load_default("test"), title="Ge test")
    features = FeaturesState(data=data)
    features.compute_now()
    return data, features


def test_study_done_before_submit_returns_is_no_longer_running(test_split):
    _, features = test_split
    selection = SelectionState(features_state=features, synchronous=True)
    studies = StudiesState(selection=selection, background=FinishedBeforeReturn())
    job = studies.run_curve(thresholds=(0.3, 0.5))
    assert not job.running and job.error is None
    assert studies.running == []  # was left at ["curve"] (NameError: free variable 'job')
    assert studies.curve["threshold"] == [0.3, 0.5]
    assert studies.progress["curve"] == 1.0


def test_comparison_done_before_submit_returns_reports_done(test_split):
    data, _ = test_split
    compare = CompareState(data=data, methods=["random"], sizes=[3], background=FinishedBeforeReturn())
    job = compare.start()
    assert not job.running and job.error is None
    assert not compare.running
    assert compare.status == f"done: {len(compare.rows)} rows"
    assert sorted(row["method"] for row in compare.rows) == ["full", "random"]


class SessionContext:
    """Stands in for Bokeh's session context: what makes a document count as served."""


def test_join_on_the_served_sessions_own_thread_runs_its_queued_callbacks():
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    doc = Document()
    context = SessionContext()
    doc._session_context = weakref.ref(context)  # served; no loop runs its next-tick callbacks
    with set_curdoc(doc):
        runner = Background()
    seen = []
    job = runner.submit("square", lambda cancelled, emit: emit(3) or 9, on_emit=seen.append,
                        on_result=seen.append)
    assert job.join(30)  # the callbacks only this thread may run: before, a wait until the timeout
    assert seen == [3, 9]
    assert runner.wait(timeout=1)
    # The ticks the loop would have run find nothing left to do.
    assert runner._run_next() is False


def rows(method: str, sizes: list[int]) -> list[dict]:
    return [{"method": method, "size": s, "n_selected": s, "rmse_e_pred": 10.0 / s, "rmse_e_train": 5.0 / s,
             "rmse_f_pred": 100.0 / s, "rmse_f_train": 50.0 / s, "select_seconds": 0.1, "fit_seconds": 0.2}
            for s in sizes]


def test_learning_curves_built_after_the_comparison_draw_its_rows_and_list_only_them(test_split):
    data, _ = test_split
    compare = CompareState(data=data)
    compare.rows = [*rows("full", [25]), *rows("lebank", [5, 10]), *rows("random", [5, 10])]
    compare.status = "done: 5 rows"
    view = LearningCurves(compare=compare)
    assert view.sources[("rmse_f", "lebank", "pred")].data == {"x": [5, 10], "y": [20.0, 10.0]}
    assert view.sources[("rmse_e", "random", "train")].data == {"x": [5, 10], "y": [1.0, 0.5]}
    assert view.sources[("rmse_f", "fps", "pred")].data["x"] == []
    assert view.references["rmse_f"].location == 4.0
    for fig in view.figures:
        (legend,) = fig.legend
        assert [item.label["value"] for item in legend.items if item.visible] == ["lebank", "random"]
    assert "4 curve points" in view.status.object
    # A method that streams in later joins the legend.
    compare.rows = [*compare.rows, *rows("fps", [5])]
    view.refresh()
    shown = [item.label["value"] for item in view.figures[0].legend[0].items if item.visible]
    assert shown == ["lebank", "fps", "random"]


def test_study_views_built_after_their_study_show_its_results(test_split):
    from atomsieve.app.selection_plots import ShuffleViolins, ThresholdCurve

    _, features = test_split
    studies = StudiesState(selection=SelectionState(features_state=features, synchronous=True))
    assert studies.run_curve(element="Ge", thresholds=(0.5, 0.3)).join(60)
    assert studies.run_shuffles(n_runs=4).join(60)
    curve = ThresholdCurve(studies=studies)
    assert curve.source.data["threshold"] == [0.3, 0.5]  # sorted, drawn at once
    assert curve.source.data["structures"] == [studies.curve["structures"][1], studies.curve["structures"][0]]
    violins = ShuffleViolins(studies=studies)
    assert violins.sources["structures"].data["y"] == studies.shuffles["structures"]
    assert len(violins.sources["structures"].data["y"]) == 4
    assert violins.pane.visible and violins.caption.object.startswith("4 shuffled runs")
