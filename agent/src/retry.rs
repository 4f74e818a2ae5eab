//! The one retry rule of the agent: bounded exponential backoff with jitter, a server's
//! `Retry-After` honoured (and a wait longer than the policy allows given up at once), at most
//! `max_attempts` attempts and, when set, a deadline. Used by the Silae client (its calls, its
//! token requests, the polling of an asynchronous journal) and by the Odoo client's reads.
//!
//! The caller says what each attempt gave ([`Step`]); the helper decides when to try again.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// How often and how long to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first wait, doubled at each retry (the wait is drawn in its upper half: jitter).
    pub base: Duration,
    /// No single wait is longer (a `Retry-After` aside).
    pub max_delay: Duration,
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// No retry starts past this much time after the first attempt.
    pub deadline: Option<Duration>,
    /// The longest `Retry-After` honoured; a server asking for more is given up at once.
    pub max_retry_after: Duration,
}

impl Policy {
    /// The wait before retry number `retry` (0 for the first retry), before a server's own.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self.base.saturating_mul(2u32.saturating_pow(retry)).min(self.max_delay);
        let half = exp / 2;
        let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::thread_rng().gen_range(0..=spread))
    }
}

/// What one attempt gave.
#[derive(Debug)]
pub enum Step<T, E> {
    Done(T),
    /// Worth trying again, after at least `after` when the server said so (`Retry-After`).
    Retry {
        error: E,
        after: Option<Duration>,
    },
    /// Try again at once, without counting an attempt (a renewed token, a fresh session): the
    /// caller bounds how often it says so.
    Again,
    /// Trying again would not help.
    Fail(E),
}

/// Why the helper stopped without a result.
#[derive(Debug, PartialEq, Eq)]
pub enum GaveUp<E> {
    /// The attempt said [`Step::Fail`].
    Failed(E),
    /// `max_attempts` made, or the deadline passed; the last error and the attempts made.
    Exhausted { error: E, attempts: u32 },
    /// The server asked to wait longer than `max_retry_after`.
    WaitTooLong { error: E, wait: Duration },
}

impl<E> GaveUp<E> {
    /// The error of the last attempt, whatever the reason.
    pub fn into_error(self) -> E {
        match self {
            GaveUp::Failed(e) | GaveUp::Exhausted { error: e, .. } | GaveUp::WaitTooLong { error: e, .. } => e,
        }
    }
}

/// Runs `attempt` (given the attempt's number, 0 first) until it is done, fails, or the policy
/// says to stop. Waits with `tokio::time::sleep` (tests pause the clock); `on_retry` sees each
/// error and the wait chosen (for the logs).
pub async fn run<T, E, F, Fut>(
    policy: &Policy,
    mut attempt: F,
    mut on_retry: impl FnMut(&E, u32, Duration),
) -> Result<T, GaveUp<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Step<T, E>>,
{
    let started = Instant::now();
    let mut made = 0u32;
    loop {
        let (error, after) = match attempt(made).await {
            Step::Done(value) => return Ok(value),
            Step::Fail(error) => return Err(GaveUp::Failed(error)),
            Step::Again => continue,
            Step::Retry { error, after } => (error, after),
        };
        made += 1;
        if let Some(wait) = after.filter(|w| *w > policy.max_retry_after) {
            return Err(GaveUp::WaitTooLong { error, wait });
        }
        if made >= policy.max_attempts.max(1) {
            return Err(GaveUp::Exhausted { error, attempts: made });
        }
        let delay = policy.delay(made - 1).max(after.unwrap_or_default());
        if policy.deadline.is_some_and(|d| started.elapsed() + delay > d) {
            return Err(GaveUp::Exhausted { error, attempts: made });
        }
        on_retry(&error, made, delay);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn policy(max_attempts: u32) -> Policy {
        Policy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_attempts,
            deadline: None,
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// Runs steps in order (the last repeats), recording when (in paused time) each attempt
    /// started and the waits the helper chose.
    async fn play(
        p: Policy,
        steps: Vec<Step<u32, &'static str>>,
    ) -> (Result<u32, GaveUp<&'static str>>, Vec<Duration>) {
        let steps = Arc::new(Mutex::new(std::collections::VecDeque::from(steps)));
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let result = run(
            &p,
            |_| {
                let steps = steps.clone();
                let times = times.clone();
                async move {
                    times.lock().unwrap().push(start.elapsed());
                    let mut s = steps.lock().unwrap();
                    if s.len() > 1 {
                        s.pop_front().unwrap()
                    } else {
                        match s.front().unwrap() {
                            Step::Done(v) => Step::Done(*v),
                            Step::Retry { error, after } => Step::Retry { error: *error, after: *after },
                            Step::Again => Step::Again,
                            Step::Fail(e) => Step::Fail(*e),
                        }
                    }
                }
            },
            |_, _, _| {},
        )
        .await;
        let times = times.lock().unwrap().clone();
        (result, times)
    }

    fn retry(after: Option<u64>) -> Step<u32, &'static str> {
        Step::Retry { error: "busy", after: after.map(Duration::from_secs) }
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_exponentially_with_jitter_within_bounds() {
        let (result, times) =
            play(policy(10), vec![retry(None), retry(None), retry(None), retry(None), Step::Done(7)]).await;
        assert_eq!(result, Ok(7));
        assert_eq!(times.len(), 5);
        let waits: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        // 100, 200, 400, 800 ms at most, each at least half of it.
        for (i, wait) in waits.iter().enumerate() {
            let cap = Duration::from_millis(100 * 2u64.pow(i as u32));
            assert!(*wait >= cap / 2 && *wait <= cap, "wait {i}: {wait:?} not within [{:?}, {cap:?}]", cap / 2);
        }
        // Capped at max_delay.
        let p = policy(10);
        for retry in 5..40 {
            assert!(p.delay(retry) <= p.max_delay);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_attempts_with_the_last_error() {
        let (result, times) = play(policy(3), vec![retry(None)]).await;
        assert_eq!(result, Err(GaveUp::Exhausted { error: "busy", attempts: 3 }));
        assert_eq!(times.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_and_gives_up_on_a_longer_one() {
        let (result, times) = play(policy(5), vec![retry(Some(30)), Step::Done(1)]).await;
        assert_eq!(result, Ok(1));
        assert!(times[1] >= Duration::from_secs(30), "waited only {:?}", times[1]);
        let (result, times) = play(policy(5), vec![retry(Some(61))]).await;
        assert_eq!(result, Err(GaveUp::WaitTooLong { error: "busy", wait: Duration::from_secs(61) }));
        assert_eq!(times.len(), 1, "nothing waited for");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_stops_retries_that_would_pass_it() {
        let p = Policy { deadline: Some(Duration::from_secs(2)), max_delay: Duration::from_secs(10), ..policy(100) };
        let (result, times) = play(p, vec![retry(None)]).await;
        assert!(matches!(result, Err(GaveUp::Exhausted { error: "busy", .. })), "{result:?}");
        assert!(*times.last().unwrap() <= Duration::from_secs(2), "an attempt after the deadline: {times:?}");
        assert!(times.len() >= 3, "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn fail_stops_at_once_and_again_is_not_counted() {
        let (result, times) = play(policy(5), vec![Step::Fail("refused")]).await;
        assert_eq!(result, Err(GaveUp::Failed("refused")));
        assert_eq!(times.len(), 1);
        let (result, times) = play(policy(2), vec![Step::Again, retry(None), Step::Again, Step::Done(3)]).await;
        assert_eq!(result, Ok(3));
        assert_eq!(times.len(), 4);
        assert_eq!(times[1], Duration::ZERO, "Again retries at once");
    }
}
