//! Signing in (A1-A6): logins, tokens, passwords and second factors.

use super::*;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    /// The org's slug.
    pub org: String,
    /// Username or email.
    pub login: String,
    pub password: String,
    /// A TOTP code or a recovery code, when a second factor is enrolled.
    pub totp_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Whether this session proved a second factor (G2: high-level permissions need it).
    pub second_factor: bool,
    /// A3: the account must change its password before anything else.
    pub must_change_password: bool,
}

impl From<keyholder_domain::services::TokenPair> for TokenOut {
    fn from(p: keyholder_domain::services::TokenPair) -> Self {
        TokenOut {
            access_token: p.access_token,
            token_type: "Bearer".into(),
            expires_in: p.expires_in,
            refresh_token: p.refresh_token,
            second_factor: p.second_factor,
            must_change_password: p.must_change_password,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshIn {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetIn {
    pub org: String,
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordIn {
    /// The token from an invitation or reset link.
    pub token: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordIn {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetupOut {
    /// Base32 secret, for typing into an app (or `oathtool --totp -b <secret>`).
    pub secret: String,
    pub otpauth_uri: String,
    /// A PNG QR code of the URI, base64.
    pub qr_png_base64: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmIn {
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesOut {
    /// Ten single-use codes, shown once.
    pub recovery_codes: Vec<String>,
}
