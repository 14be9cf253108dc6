//! Small helpers around tokio's clock, shared by the tasks.

use tokio::time::Instant;

/// Sleeps until `deadline`, or forever when there is none: a `select!` arm
/// for a timer that may be unset. A `std` deadline (from a pure core, see
/// [`now`]) is taken as it is.
pub async fn sleep_until_opt(deadline: Option<impl Into<Instant>>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The runtime's clock as a `std` instant, the time the pure cores take as
/// an argument: tokio's, so that paused test time applies.
pub fn now() -> std::time::Instant {
    Instant::now().into_std()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sleeps_until_a_std_or_tokio_deadline_or_forever() {
        let start = Instant::now();
        sleep_until_opt(Some(now() + Duration::from_secs(3))).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        sleep_until_opt(Some(Instant::now() + Duration::from_secs(2))).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        let forever = tokio::time::timeout(Duration::from_secs(3600), sleep_until_opt(None::<Instant>)).await;
        assert!(forever.is_err(), "no deadline: no wake-up");
    }
}
