"""jobwait.wait against a scripted clock: the deadline is inclusive, each wait sleeps the
interval, and the first verdict found wins. (API errors and `status: "False"`: test_jobwait.)"""

from __future__ import annotations

from mlspec.pod import jobwait


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def running(path: str) -> dict:
    return {"status": {"conditions": [{"type": "Complete", "status": "False"}]}}


def test_the_deadline_is_reached_exactly_and_gives_no_verdict(capsys):
    clock = Clock()
    assert jobwait.wait(running, "ns", "job", timeout=30, interval=10, clock=clock, sleep=clock.sleep) == 1
    # asked at 100, 110, 120 and 130: at 130 the deadline (100 + 30) is reached, so no fourth sleep
    assert clock.slept == [10, 10, 10]
    assert "mlspec: evaluation Job ns/job has no verdict after 30s" in capsys.readouterr().err


def test_a_verdict_at_the_deadline_still_counts(capsys):
    clock = Clock()
    answers = iter([None, None, {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}])
    assert jobwait.wait(lambda path: next(answers), "ns", "job", 20, 10, clock=clock, sleep=clock.sleep) == 0
    assert clock.slept == [10, 10]
    assert capsys.readouterr().out == "mlspec: evaluation Job ns/job passed the gate\n"


def test_the_job_is_asked_for_at_its_own_path():
    asked: list[str] = []
    clock = Clock()

    def get(path: str) -> dict:
        asked.append(path)
        return {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}

    assert jobwait.wait(get, "risk", "fraud-eval-1", 5, 1, clock=clock, sleep=clock.sleep) == 1
    assert asked == ["/apis/batch/v1/namespaces/risk/jobs/fraud-eval-1"] and clock.slept == []


def test_job_state_reads_only_true_conditions_of_the_two_final_types():
    def job(*conditions: tuple[str, str]) -> dict:
        return {"status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}

    assert jobwait.job_state(job(("Suspended", "True"), ("Failed", "True"))) == "Failed"
    assert jobwait.job_state(job(("Complete", "True"), ("Failed", "True"))) == "Complete"  # the first one
    assert jobwait.job_state(job(("SuccessCriteriaMet", "True"))) is None
    assert jobwait.job_state({"status": None}) is None
    assert jobwait.job_state({"status": {"conditions": None}}) is None
    assert jobwait.job_state({}) is None


def test_the_job_and_the_timeout_are_required(capsys):
    import pytest

    for argv in ([], ["--job", "j"], ["--timeout", "5"]):
        with pytest.raises(SystemExit) as info:
            jobwait.main(argv)
        assert info.value.code == 2
    assert "the following arguments are required" in capsys.readouterr().err


def test_help_describes_the_program_in_its_first_docstring_line(capsys):
    import pytest

    with pytest.raises(SystemExit):
        jobwait.main(["--help"])
    assert "Wait for a release's evaluation Job and report its verdict." in capsys.readouterr().out
