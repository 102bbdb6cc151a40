// `sqlx::migrate!` embeds the migrations at compile time; without this, adding a migration to a
// warm build would not rebuild the server, and it would run without it.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    // The schema version is the number of the newest migration; both backends must agree, or
    // one of them would be missing a migration.
    let newest = |backend: &str| -> u32 {
        std::fs::read_dir(format!("../../migrations/{backend}"))
            .expect("migrations folder")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.split('_').next()?.parse().ok())
            .max()
            .unwrap_or(0)
    };
    let (sqlite, postgres) = (newest("sqlite"), newest("postgres"));
    assert_eq!(sqlite, postgres, "migrations/sqlite and migrations/postgres must end at the same number");
    println!("cargo:rustc-env=HDMS_SCHEMA_VERSION={sqlite}");
}
