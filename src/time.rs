//! Small helpers around tokio's clock, shared by the tasks.

use tokio::time::Instant;

/// Sleeps until `deadline`, or forever when there is none: a `select!` arm
/// for a timer that may be unset.
pub async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The runtime's clock as a `std` instant, the time the pure cores take as
/// an argument: tokio's, so that paused test time applies.
pub fn now() -> std::time::Instant {
    Instant::now().into_std()
}
