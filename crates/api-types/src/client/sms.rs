//! Notification preferences, phone verification and SMS login codes.

use reqwest::{Method, StatusCode};

use super::{Client, ClientError, Result};
use crate::{API_PREFIX, ApiError};
use crate::auth::{LoginRequest, LoginResponse};
use crate::sms::{
    ConfirmPhone, LoginOtpRequest, LoginOutcome, LoginRefusal, NotificationPreference, NotificationPreferences, OtpChallenge,
    PhoneStatus, PhoneVerificationSent, SetLoginOtp, UpdateNotificationPreferences,
};

/// The error code of a login that needs an SMS code next.
pub const OTP_REQUIRED: &str = "otp_required";

impl Client {
    // --- login with a second factor -----------------------------------------------------

    /// Logs in; for an account with SMS login codes the answer is the challenge to complete
    /// with [`Client::login_otp`] (where [`Client::login`] would answer the `otp_required`
    /// error). Keeps the access token when logged in.
    pub async fn login_start(&self, email: &str, password: &str) -> Result<LoginOutcome> {
        let request = LoginRequest { email: email.to_owned(), password: password.to_owned() };
        let response = self.request(Method::POST, &format!("{API_PREFIX}/auth/login"))?.json(&request).send().await?;
        let status = response.status();
        if status.is_success() {
            let answer: LoginResponse = response.json().await?;
            self.set_token(Some(answer.access_token.clone()));
            return Ok(LoginOutcome::LoggedIn(Box::new(answer)));
        }
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<LoginRefusal>(&text) {
            Ok(LoginRefusal::OtpRequired(challenge)) if status == StatusCode::UNAUTHORIZED && challenge.error.code == OTP_REQUIRED => {
                Ok(LoginOutcome::OtpRequired(challenge))
            }
            Ok(LoginRefusal::OtpRequired(OtpChallenge { error, .. })) | Ok(LoginRefusal::Refused(ApiError { error })) => {
                Err(ClientError::Api { status, body: ApiError { error } })
            }
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }

    /// Completes a login with the code received by SMS; keeps the access token.
    pub async fn login_otp(&self, challenge: &str, code: &str) -> Result<LoginResponse> {
        let request = LoginOtpRequest { challenge: challenge.to_owned(), code: code.to_owned() };
        let answer: LoginResponse =
            self.with_body(Method::POST, &format!("{API_PREFIX}/auth/login/otp"), &request).await?;
        self.set_token(Some(answer.access_token.clone()));
        Ok(answer)
    }

    // --- phone --------------------------------------------------------------------------

    pub async fn phone_status(&self) -> Result<PhoneStatus> {
        self.get(&format!("{API_PREFIX}/users/me/phone")).await
    }

    /// Sends a verification code by SMS to the caller's phone number.
    pub async fn start_phone_verification(&self) -> Result<PhoneVerificationSent> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/users/me/phone/verification"))?).await
    }

    pub async fn confirm_phone(&self, code: &str) -> Result<PhoneStatus> {
        let request = ConfirmPhone { code: code.to_owned() };
        self.with_body(Method::POST, &format!("{API_PREFIX}/users/me/phone/verification/confirm"), &request).await
    }

    pub async fn set_login_otp(&self, enabled: bool) -> Result<PhoneStatus> {
        self.with_body(Method::PUT, &format!("{API_PREFIX}/users/me/login-otp"), &SetLoginOtp { enabled }).await
    }

    // --- notification preferences -------------------------------------------------------

    pub async fn notification_preferences(&self) -> Result<NotificationPreferences> {
        self.get(&format!("{API_PREFIX}/notifications/preferences")).await
    }

    pub async fn set_notification_preferences(&self, preferences: Vec<NotificationPreference>) -> Result<NotificationPreferences> {
        let request = UpdateNotificationPreferences { preferences };
        self.with_body(Method::PUT, &format!("{API_PREFIX}/notifications/preferences"), &request).await
    }
}
