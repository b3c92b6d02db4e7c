"""Delay arithmetic of spec.retry.backoff: table by table, then properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskops.api.taskjob import Backoff
from taskops.core.backoff import base_delay, jitter_unit, retry_delay


def backoff(**fields: object) -> Backoff:
    return Backoff.model_validate(fields)


@pytest.mark.parametrize(
    ("retry", "expected"),
    [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (7, 300), (50, 300), (10_000, 300)],
)
def test_exponential_delay_doubles_from_the_initial_delay_up_to_the_max(
    retry: int, expected: float
) -> None:
    assert base_delay(Backoff(), retry) == expected


@pytest.mark.parametrize(
    ("factor", "retry", "expected"),
    [(1.0, 5, 10), (1.5, 2, 15), (1.5, 3, 22.5), (3.0, 3, 90), (100.0, 2, 300)],
)
def test_exponential_delay_grows_by_factor(factor: float, retry: int, expected: float) -> None:
    assert base_delay(backoff(factor=factor), retry) == pytest.approx(expected)


@pytest.mark.parametrize("retry", [1, 2, 3, 10, 1000])
def test_fixed_delay_is_always_the_initial_delay(retry: int) -> None:
    assert base_delay(backoff(policy="Fixed", initialDelaySeconds=7), retry) == 7


@pytest.mark.parametrize("retry", [1, 2, 3, 10, 1000])
def test_policy_none_retries_at_once_even_with_jitter(retry: int) -> None:
    assert retry_delay(backoff(policy="None", jitter=1.0), retry, "seed") == 0


@pytest.mark.parametrize("retry", [0, -1, -100])
def test_no_failure_yet_means_no_delay(retry: int) -> None:
    assert base_delay(Backoff(), retry) == 0


@pytest.mark.parametrize(
    ("initial", "maximum", "retry", "expected"),
    [(0, 0, 3, 0), (0, 300, 3, 0), (50, 50, 1, 50), (50, 50, 9, 50), (1, 1_000_000, 21, 1_000_000)],
)
def test_edge_delays(initial: int, maximum: int, retry: int, expected: float) -> None:
    spec = backoff(initialDelaySeconds=initial, maxDelaySeconds=maximum)
    assert base_delay(spec, retry) == expected


def test_huge_retry_numbers_do_not_overflow() -> None:
    assert base_delay(backoff(factor=100.0, maxDelaySeconds=10**8), 10**6) == 10**8


@pytest.mark.parametrize("seed", [f"uid/{i}/{a}" for i in range(5) for a in range(4)])
def test_jitter_is_deterministic_per_seed(seed: str) -> None:
    spec = backoff(jitter=0.5)
    assert retry_delay(spec, 3, seed) == retry_delay(spec, 3, seed)
    assert jitter_unit(seed) == jitter_unit(seed)


def test_jitter_spreads_seeds_over_the_whole_band() -> None:
    units = [jitter_unit(f"uid/{i}/1") for i in range(2000)]
    assert min(units) < -0.9 and max(units) > 0.9
    assert abs(sum(units) / len(units)) < 0.05


def test_jitter_never_uses_the_random_module(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_: object) -> float:
        raise AssertionError("random used")

    monkeypatch.setattr(random, "random", forbidden)
    monkeypatch.setattr(random, "uniform", forbidden)
    retry_delay(backoff(jitter=1.0), 2, "x")


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("retry", [1, 2, 6])
def test_jittered_delay_stays_within_the_band(jitter: float, retry: int) -> None:
    spec = backoff(jitter=jitter)
    base = base_delay(spec, retry)
    for i in range(200):
        delay = retry_delay(spec, retry, f"seed-{i}")
        assert base * (1 - jitter) <= delay <= base * (1 + jitter)


backoffs = st.builds(
    lambda policy, initial, extra, factor, jitter: backoff(
        policy=policy,
        initialDelaySeconds=initial,
        maxDelaySeconds=initial + extra,
        factor=factor,
        jitter=jitter,
    ),
    st.sampled_from(["Exponential", "Fixed", "None"]),
    st.integers(0, 10_000),
    st.integers(0, 100_000),
    st.floats(1.0, 100.0),
    st.floats(0.0, 1.0),
)


@settings(max_examples=200, deadline=None)
@given(backoffs, st.integers(1, 100_000), st.text(max_size=40))
def test_property_delay_is_bounded_by_the_max_and_the_jitter(
    spec: Backoff, retry: int, seed: str
) -> None:
    """Every delay lies in [d(1-j), d(1+j)] for d = the base delay, and d <= maxDelaySeconds."""
    base = base_delay(spec, retry)
    assert 0 <= base <= spec.max_delay_seconds
    delay = retry_delay(spec, retry, seed)
    assert base * (1 - spec.jitter) - 1e-9 <= delay <= base * (1 + spec.jitter) + 1e-9


@settings(max_examples=200, deadline=None)
@given(backoffs, st.integers(1, 1000))
def test_property_base_delay_never_shrinks_with_more_retries(spec: Backoff, retry: int) -> None:
    """The base delay is monotonic in the retry number (jitter aside)."""
    assert base_delay(spec, retry) <= base_delay(spec, retry + 1)
