//! Rebuilds the crate when a migration is added or edited: `sqlx::migrate!` embeds the
//! `migrations/` folders at compile time but does not ask cargo to watch them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
