//! Concurrent wrong guesses against the sign-in pause, through the HTTP API: a burst of wrong
//! passwords sent at once for one account gets no more guesses checked than the threshold allows
//! one at a time, and leaves sign-in paused for that account, so the right password is refused
//! afterwards too. Kept apart from `abuse.rs` so that the lockout's redesign can change that file
//! freely; what is asserted here must stay true of any design.

use crate::helpers::{assert_problem, spawn_app_with, Backend, PASSWORD};
use futures::future::join_all;

const THRESHOLD: usize = 3;
const BURST: usize = 16;

async fn concurrent_wrong_guesses_get_no_more_checks_than_the_threshold_and_end_paused(b: Backend) {
    let threshold = THRESHOLD.to_string();
    let app = spawn_app_with(
        b,
        &[],
        &["--lockout-threshold", &threshold, "--lockout-base", "10m"],
    )
    .await;
    app.create_user("alice@example.com").await;
    let guesses = (0..BURST).map(|i| {
        let app = &app;
        async move {
            app.login("alice@example.com", &format!("wrong guess number {i}"))
                .await
        }
    });
    let answers = join_all(guesses).await;
    let mut checked = 0;
    for r in answers {
        match r.status().as_u16() {
            // The password was checked (and was wrong).
            401 => checked += 1,
            // Refused unchecked: sign-in is paused.
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        checked <= THRESHOLD,
        "{checked} of {BURST} concurrent guesses were checked; the threshold is {THRESHOLD}"
    );
    // The burst left sign-in paused: even the right password is refused now.
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 429, "rate_limited").await;
}

crate::on_every_backend!(
    concurrent_wrong_guesses_get_no_more_checks_than_the_threshold_and_end_paused
);
