//! When to try again: which failures are worth a retry, and how long to wait.

use crate::config::RetryPolicy;
use std::time::Duration;

/// Why one attempt failed, and whether another could succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AttemptError {
    /// No retry can help (the target refused the request as such).
    pub permanent: bool,
    /// What went wrong, short, never holding a secret.
    pub message: String,
    /// How long the target asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl AttemptError {
    /// A failure that another attempt may not meet (timeouts, 5xx, 408, 429).
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure every attempt would meet (other 4xx, a message that cannot
    /// be built).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The wait after failed attempt number `attempt` (from 1): the first delay
/// doubled per earlier failure, capped at the maximum, of which the upper
/// half is jitter (`unit` in `[0, 1]` picks where in it), so that alerts
/// failing together do not retry together. A target's `Retry-After` is
/// honoured up to the maximum.
pub(crate) fn delay(
    policy: &RetryPolicy,
    attempt: u32,
    unit: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let doublings = attempt.saturating_sub(1).min(63);
    let ceiling = policy
        .first_delay_ms
        .saturating_mul(1u64 << doublings)
        .min(policy.max_delay_ms);
    let half = ceiling / 2;
    let jittered = half + ((ceiling - half) as f64 * unit.clamp(0.0, 1.0)) as u64;
    let asked = retry_after.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Duration::from_millis(jittered.max(asked.min(policy.max_delay_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        first_delay_ms: 500,
        max_delay_ms: 300_000,
    };

    fn ms(attempt: u32, unit: f64) -> u128 {
        delay(&POLICY, attempt, unit, None).as_millis()
    }

    #[test]
    fn doubles_with_jitter_in_the_upper_half() {
        assert_eq!((ms(1, 0.0), ms(1, 1.0)), (250, 500));
        assert_eq!((ms(2, 0.0), ms(2, 1.0)), (500, 1000));
        assert_eq!((ms(4, 0.0), ms(4, 0.5)), (2000, 3000));
    }

    #[test]
    fn is_capped_at_the_maximum_even_after_many_attempts() {
        assert_eq!(ms(10, 1.0), 256_000);
        assert_eq!(ms(11, 1.0), 300_000);
        assert_eq!((ms(u32::MAX, 0.0), ms(u32::MAX, 1.0)), (150_000, 300_000));
    }

    #[test]
    fn honours_retry_after_up_to_the_maximum() {
        let wait = |secs| delay(&POLICY, 1, 0.0, Some(Duration::from_secs(secs))).as_millis();
        assert_eq!(wait(30), 30_000);
        assert_eq!(wait(86_400), 300_000);
        assert_eq!(
            delay(&POLICY, 3, 1.0, Some(Duration::ZERO)).as_millis(),
            2000
        );
    }
}
