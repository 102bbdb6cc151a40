//! The saved-login session `hdms` and `hdms-tui` share (`hdms_api_types::credentials`), used as
//! a library: many tasks calling at once through one session never present a refresh token
//! twice (which would end the session), and what they refreshed is saved for the next start.

mod common;

use std::sync::Arc;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use hdms_api_types::credentials::{ConfigDir, CredentialsError, Session, Target};
use hdms_api_types::sms::LoginOutcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_share_each_refresh_and_save_it() {
    // Access tokens live 1 s, under the refresh margin: every call refreshes first.
    let server = TestServer::start_with(|config| config.access_token_ttl_secs = 1).await;
    let dir = tempfile::tempdir().unwrap();
    let target = Target::new(ConfigDir::at(dir.path()), "default", &server.url).with_notices(Arc::new(|_| {}));

    let not_yet = Session::open(target.clone()).await.err().expect("nobody is logged in yet");
    assert!(matches!(not_yet, CredentialsError::NotLoggedIn { .. }) && not_yet.needs_login(), "{not_yet}");

    let LoginOutcome::LoggedIn(answer) = target.anonymous_client().unwrap().login_start(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap() else {
        panic!("the admin has no login codes");
    };
    let (session, _) = Session::from_login(target.clone(), &answer).await.unwrap();
    assert_eq!(target.saved_profile().unwrap().and_then(|p| p.email), Some(ADMIN_EMAIL.to_owned()));
    for _ in 0..3 {
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let session = session.clone();
                tokio::spawn(async move { session.me().await })
            })
            .collect();
        for call in calls {
            let me = call.await.unwrap().expect("every call succeeds: no refresh token was used twice");
            assert_eq!(me.email, ADMIN_EMAIL);
        }
    }
    // The next start reads the newest tokens, not a used one.
    let reopened = Session::open(target.clone()).await.expect("the refreshed login was saved");
    assert_eq!(reopened.me().await.unwrap().email, ADMIN_EMAIL);
    // The first session's refresh token was rotated by the reopened one: it now has to log in.
    let ended = session.me().await.expect_err("a reused refresh token ends the session");
    assert!(matches!(ended, CredentialsError::SessionExpired { .. }), "{ended}");
    assert!(Session::open(target).await.err().expect("the saved login was removed").needs_login());
}
