"""The one retry layer for steps that talk to the warehouse or the journey-config service.

Adapters only classify errors (``adapters/warehouse/errors.py``, ``JourneyConfigUnavailable``)
and raise; they never loop. A step retries through this Dagster ``RetryPolicy`` only:
transient errors propagate (or fail with retries allowed) and the policy runs the step again;
permanent errors raise ``dg.Failure(allow_retries=False)`` (``defs/failures.py``) and end the
step at once.

``WAREHOUSE_RETRY``: 4 attempts in all (``max_retries=3``, ``delay=1.0``, exponential). Dagster
1.13 waits ``(2**n - 1) * delay`` before retry n (``RetryPolicy.calculate_delay``), so the waits
are 1 s, 3 s and 7 s: at most 11 s of waiting before the step fails for good (not 1+2+4 s). The
table in the README ("Retries: who retries what, and the worst case") states the same numbers,
and a test holds them equal.
"""

import dagster as dg

WAREHOUSE_RETRY = dg.RetryPolicy(max_retries=3, delay=1.0, backoff=dg.Backoff.EXPONENTIAL)

# The runs a landing sensor starts for files (streak moves, signups and unsubscribes) ask for
# Dagster's run retries: 2 more runs after the first, each from the failed step, for failures
# outside a step only (a step's own errors already had its retry policy). dagster.yaml enables
# run retries with a default of 0, so only runs that ask, like these, are retried.
RUN_RETRIES = 2
RETRY_TAGS = {
    "dagster/max_retries": str(RUN_RETRIES),
    "dagster/retry_strategy": "FROM_FAILURE",
    "dagster/retry_on_asset_or_op_failure": "false",
}


def attempts(policy: dg.RetryPolicy) -> int:
    """How many times a step under ``policy`` runs at most: the first try and its retries."""
    return policy.max_retries + 1


def worst_case_wait_s(policy: dg.RetryPolicy) -> float:
    """The longest the step waits between its attempts, in all, by Dagster's own formula
    (jitter aside: the policies here set none)."""
    return sum(waits_s(policy))


def waits_s(policy: dg.RetryPolicy) -> list[float]:
    """The wait before each retry, in order."""
    return [float(policy.calculate_delay(n)) for n in range(1, policy.max_retries + 1)]
