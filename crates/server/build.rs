// `sqlx::migrate!` embeds the migrations at compile time; without this, adding a migration to a
// warm build would not rebuild the server, and it would run without it.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
