//! `hdms login`, `logout`, `accept-invite`, `whoami`, `status`.

use std::io::{BufRead, IsTerminal, Write};

use hdms_api_types::sms::LoginOutcome;

use crate::cli::{AcceptInviteArgs, LoginArgs};
use crate::commands::read_stdin_line;
use crate::exit::{CliError, CliResult};
use crate::output::Output;
use hdms_api_types::credentials::{CredentialStore, Profile, Session, Target};

pub async fn login(target: Target, args: LoginArgs) -> CliResult {
    let saved = target.config.profile(&target.profile)?;
    let email = match args.email.or_else(|| saved.as_ref().and_then(|p| p.email.clone())) {
        Some(email) => email,
        None if std::io::stdin().is_terminal() && !args.password_stdin => prompt("Email: ")?,
        None => return Err(CliError::usage("give --email (no terminal to ask on)")),
    };
    let password = read_password(args.password_stdin, &format!("Password for {email}: "))?;
    let client = target.anonymous_client()?;
    let answer = match client.login_start(&email, &password).await? {
        LoginOutcome::LoggedIn(answer) => *answer,
        LoginOutcome::OtpRequired(challenge) => {
            let code = match args.otp_code {
                Some(code) => code,
                None if args.password_stdin => read_stdin_line()
                    .map_err(|_| CliError::usage("this account needs an SMS login code: give --otp-code or a second line on stdin"))?,
                None if std::io::stdin().is_terminal() => {
                    prompt(&format!("Code sent by SMS to {} (valid {} s): ", challenge.phone_hint, challenge.expires_in))?
                }
                None => return Err(CliError::usage("this account needs an SMS login code: give --otp-code")),
            };
            client.login_otp(&challenge.challenge, code.trim()).await?
        }
    };
    let store = target.save_login(&answer).await?.store;
    let kept_in = match store {
        CredentialStore::Keyring => "the OS keyring".to_owned(),
        CredentialStore::File => target.config.credentials_path().display().to_string(),
    };
    eprintln!(
        "Logged in to {} as {} ({}); profile '{}', token kept in {kept_in}",
        target.server, answer.user.email, answer.user.role, target.profile
    );
    Ok(())
}

/// A password from stdin's first line, or asked for without echo on a terminal.
pub(crate) fn read_password(from_stdin: bool, question: &str) -> CliResult<String> {
    if from_stdin {
        read_stdin_line()
    } else if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password(question)?)
    } else {
        Err(CliError::usage("no terminal to ask for the password on: use --password-stdin"))
    }
}

/// `hdms accept-invite TOKEN`: sets the invited user's password. The token works once.
pub async fn accept_invite(target: Target, args: AcceptInviteArgs) -> CliResult {
    let password = read_password(args.password_stdin, "Choose a password: ")?;
    if !args.password_stdin && std::io::stdin().is_terminal() && rpassword::prompt_password("Once more: ")? != password {
        return Err(CliError::usage("the two passwords differ; nothing was changed"));
    }
    let user = target.anonymous_client()?.accept_invite(args.token.trim(), &password).await?;
    eprintln!(
        "Password set for {} on {}; log in with `hdms login --email {}`",
        user.email, target.server, user.email
    );
    Ok(())
}

fn prompt(question: &str) -> CliResult<String> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

pub async fn logout(target: Target) -> CliResult {
    let Some(profile) = target.config.profile(&target.profile)? else {
        eprintln!("Profile '{}' is not logged in", target.profile);
        return Ok(());
    };
    let Some(store) = profile.credential_store else {
        eprintln!("Profile '{}' is not logged in", target.profile);
        return Ok(());
    };
    if let Some(credentials) = target.config.load_credentials(&target.profile, store).await? {
        // Revoke the session on the server too; forgetting the tokens locally matters more, so
        // an unreachable server is only a warning.
        if let Err(err) = target.anonymous_client()?.logout(Some(&credentials.refresh_token)).await {
            eprintln!("hdms: warning: the server did not end the session: {}", CliError::from(err).message);
        }
    }
    target.config.delete_credentials(&target.profile, store).await?;
    target.config.save_profile(&target.profile, Profile { credential_store: None, ..profile })?;
    eprintln!("Logged out of {} (profile '{}')", target.server, target.profile);
    Ok(())
}

pub async fn whoami(session: Session, output: Output) -> CliResult {
    let me = session.me().await?;
    if output.for_people() {
        println!("{} ({}) on {} [profile {}]", me.email, me.role, session.server(), session.profile());
        return Ok(());
    }
    output.one_as(&me, super::users::UserRow { user: &me, teams: Vec::new() })
}

pub async fn status(target: Target) -> CliResult {
    let client = target.anonymous_client()?;
    let health = client.health().await?;
    println!("{} is {} (hdms-server {})", client.base_url(), health.status, health.version);
    Ok(())
}
