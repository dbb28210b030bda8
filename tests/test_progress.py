"""Progress scaling and cancellation tokens."""

import threading

import pytest

from planning_core.errors import InvalidParameterError, OperationCancelledError
from planning_core.progress import CancelToken, checked_progress, sub_progress


def test_sub_progress_maps_and_clips():
    seen = []
    report = sub_progress(lambda f, m: seen.append((round(f, 6), m)), 0.2, 0.6)
    report(0.0, "a")
    report(0.5, "b")
    report(1.5, "c")
    assert seen == [(0.2, "a"), (0.4, "b"), (0.6, "c")]


def test_sub_progress_of_none_is_silent():
    sub_progress(None, 0.0, 1.0)(0.5, "nobody listens")


def test_sub_progress_rejects_inverted_range():
    with pytest.raises(InvalidParameterError, match=r"start=0\.7"):
        sub_progress(lambda f, m: None, 0.7, 0.3)


def test_cancel_from_another_thread():
    token = CancelToken()
    token.raise_if_cancelled()
    worker = threading.Thread(target=token.cancel)
    worker.start()
    worker.join()
    assert token.cancelled
    with pytest.raises(OperationCancelledError, match="cancelled"):
        token.raise_if_cancelled()


def test_checked_progress_reports_until_cancelled_then_raises_before_reporting():
    seen: list[tuple[float, str]] = []
    token = CancelToken()
    step = checked_progress(lambda f, m: seen.append((f, m)), token)
    step(0.5, "half")
    token.cancel()
    with pytest.raises(OperationCancelledError):
        step(0.9, "late")
    assert seen == [(0.5, "half")]
    checked_progress(None, None)(1.0, "nobody listens")  # both optional
