//! The SSO OIDC wire format: one request and one response type per operation,
//! with the service's exact JSON member names (`wire-protocol.md` §3–§8).
//!
//! Requests mark the model's required members as plain fields and the optional
//! ones as `Option`s that are left out when `None`. Every response member is an
//! `Option`: the model declares none of them required, `null` counts as absent,
//! and unknown members are ignored. What a flow *needs* from a response is
//! checked later, where a missing member becomes [`DecodeError::MissingMember`].
//!
//! The same types serve the client, the simulated service and the tests.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub use crate::error::DecodeError;
use crate::secret::{
    AccessToken, AuthorizationCode, ClientSecret, CodeVerifier, DeviceCode, RefreshToken,
    SecretAccessKey, SessionToken,
};

/// `grantType` of the device authorization grant (RFC 8628 §3.4), with an underscore.
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// `grantType` of the authorization-code (PKCE) grant.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `grantType` of the refresh grant.
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// The only `clientType` the service accepts.
pub const CLIENT_TYPE_PUBLIC: &str = "public";
/// The `tokenType` the service issues.
pub const TOKEN_TYPE_BEARER: &str = "Bearer";
/// The scope the AWS CLI registers by default; it is what makes tokens refreshable.
pub const DEFAULT_SCOPE: &str = "sso:account:access";
/// The header that carries the error's shape name (header names are case-insensitive).
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";
/// The media type of every request and response body.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// RegisterClient input (§3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterClientRequest {
    /// Friendly name shown to the person who approves the device.
    pub client_name: String,
    /// Always [`CLIENT_TYPE_PUBLIC`].
    pub client_type: String,
    // Members in the order the AWS CLI sends them: clientName, clientType,
    // grantTypes, redirectUris, issuerUrl, scopes.
    /// Grants this client may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Redirect URIs for the authorization-code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// The Identity Center issuer URL (the AWS CLI sends the start URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_url: Option<String>,
    /// Scopes later tokens carry; with scopes the service issues refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Application whose configuration restricts this client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitled_application_arn: Option<String>,
}

/// RegisterClient output (§3); times are seconds since the Unix epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterClientResponse {
    /// The client identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// When the id was issued, in epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_issued_at: Option<i64>,
    /// When id and secret stop working, in epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// Authorization endpoint URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
}

/// StartDeviceAuthorization input (§4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartDeviceAuthorizationRequest {
    /// From RegisterClient.
    pub client_id: String,
    /// From RegisterClient.
    pub client_secret: ClientSecret,
    /// The AWS access portal URL.
    pub start_url: String,
}

/// StartDeviceAuthorization output (§4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartDeviceAuthorizationResponse {
    /// The code the client polls with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<DeviceCode>,
    /// The code the person confirms, e.g. `PMPJ-VZCJ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
    /// The page where the person enters the user code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri: Option<String>,
    /// The same page with the code filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// Seconds until both codes expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Seconds to wait between polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
}

/// CreateToken input (§5), one shape for every grant; build it with the
/// grant-specific constructors so the right members are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenRequest {
    /// One of the `GRANT_*` constants.
    pub grant_type: String,
    /// From RegisterClient.
    pub client_id: String,
    /// From RegisterClient.
    pub client_secret: ClientSecret,
    /// Device-code grant: the code from StartDeviceAuthorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<DeviceCode>,
    /// Refresh grant: the refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Has no effect per the model; kept for completeness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// Authorization-code grant: the redirect URI used at `/authorize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Authorization-code grant: the PKCE verifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<CodeVerifier>,
    /// Authorization-code grant: the code from the redirect (last, as the
    /// AWS CLI sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<AuthorizationCode>,
}

impl CreateTokenRequest {
    fn grant(grant_type: &str, client_id: &str, client_secret: &ClientSecret) -> Self {
        CreateTokenRequest {
            grant_type: grant_type.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.clone(),
            device_code: None,
            code: None,
            refresh_token: None,
            scope: None,
            redirect_uri: None,
            code_verifier: None,
        }
    }

    /// A device-code poll.
    pub fn device_code(client_id: &str, client_secret: &ClientSecret, code: &DeviceCode) -> Self {
        CreateTokenRequest {
            device_code: Some(code.clone()),
            ..Self::grant(GRANT_DEVICE_CODE, client_id, client_secret)
        }
    }

    /// A refresh.
    pub fn refresh_token(
        client_id: &str,
        client_secret: &ClientSecret,
        token: &RefreshToken,
    ) -> Self {
        CreateTokenRequest {
            refresh_token: Some(token.clone()),
            ..Self::grant(GRANT_REFRESH_TOKEN, client_id, client_secret)
        }
    }

    /// An authorization-code exchange (PKCE).
    pub fn authorization_code(
        client_id: &str,
        client_secret: &ClientSecret,
        code: &AuthorizationCode,
        redirect_uri: &str,
        verifier: &CodeVerifier,
    ) -> Self {
        CreateTokenRequest {
            code: Some(code.clone()),
            redirect_uri: Some(redirect_uri.to_owned()),
            code_verifier: Some(verifier.clone()),
            ..Self::grant(GRANT_AUTHORIZATION_CODE, client_id, client_secret)
        }
    }
}

/// CreateToken output (§5). `idToken` is not implemented by the service and is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenResponse {
    /// The bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessToken>,
    /// `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Seconds until the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Present when the registration allows refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
}

/// The OAuth-style error body (§9.1): `{"error", "error_description"}` plus the
/// optional `reason`, `endpoint` and `region`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The snake_case OAuth code, e.g. `authorization_pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Human-readable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Extra detail, e.g. `KMS_AccessDeniedException`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where to send the call instead (CreateTokenWithIAM only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Which region to call instead (CreateTokenWithIAM only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The SSO portal API's header for the access token (`portal-api.md` §2):
/// with an underscore, and never `Authorization`.
pub const BEARER_TOKEN_HEADER: &str = "x-amz-sso_bearer_token";
/// The portal's query parameters (`portal-api.md` §4–§6).
pub mod portal_query {
    /// GetRoleCredentials: the permission set name.
    pub const ROLE_NAME: &str = "role_name";
    /// GetRoleCredentials, ListAccountRoles: the 12-digit account id.
    pub const ACCOUNT_ID: &str = "account_id";
    /// ListAccounts, ListAccountRoles: page size, 1 to 100 (singular!).
    pub const MAX_RESULT: &str = "max_result";
    /// ListAccounts, ListAccountRoles: the page token.
    pub const NEXT_TOKEN: &str = "next_token";
}
/// The largest page the portal serves; more is refused (`portal-api.md` §5).
pub const PORTAL_MAX_RESULT: u32 = 100;
/// The namespace of the portal's `__type` error member.
pub const PORTAL_ERROR_NAMESPACE: &str = "com.amazonaws.switchboard.portal";

/// GetRoleCredentials output (§4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRoleCredentialsResponse {
    /// The credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_credentials: Option<RoleCredentialsBody>,
}

/// The `roleCredentials` member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleCredentialsBody {
    /// `ASIA…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretAccessKey>,
    /// The session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SessionToken>,
    /// Expiry in **milliseconds** since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<i64>,
}

/// ListAccounts output (§5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAccountsResponse {
    /// This page's accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_list: Option<Vec<AccountInfo>>,
    /// The next page's token; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One account of a ListAccounts page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// The 12-digit id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The display name (may be missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// The root email address (may be missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
}

/// ListAccountRoles output (§6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAccountRolesResponse {
    /// This page's roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_list: Option<Vec<RoleInfo>>,
    /// The next page's token; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One role of a ListAccountRoles page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleInfo {
    /// The permission set name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// The portal's error body (§8): `message`, and `__type` with the Coral namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalErrorBody {
    /// `com.amazonaws.switchboard.portal#UnauthorizedException`.
    #[serde(rename = "__type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Some clients and services send the code here instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable text, e.g. `Session token not found or invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Decodes a JSON body into a wire type; any bytes give a value or a typed error.
/// Every body of this protocol is a JSON object; serde would also accept an
/// array for a struct, which no server sends, so that is refused up front.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::Json("expected a JSON object".to_owned()));
    }
    serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))
}

/// Encodes a wire type as compact JSON.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs of strings and integers cannot fail;
    // an empty object is the model's encoding of "no input" if it ever did.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_poll_has_exact_member_names() {
        let req = CreateTokenRequest::device_code(
            "cid",
            &ClientSecret::new("sec"),
            &DeviceCode::new("dc"),
        );
        let json = String::from_utf8(encode(&req)).unwrap();
        assert_eq!(
            json,
            r#"{"grantType":"urn:ietf:params:oauth:grant-type:device_code","clientId":"cid","clientSecret":"sec","deviceCode":"dc"}"#
        );
    }

    #[test]
    fn refresh_and_auth_code_requests() {
        let sec = ClientSecret::new("sec");
        let json = String::from_utf8(encode(&CreateTokenRequest::refresh_token(
            "cid",
            &sec,
            &RefreshToken::new("aorOLD"),
        )))
        .unwrap();
        assert_eq!(
            json,
            r#"{"grantType":"refresh_token","clientId":"cid","clientSecret":"sec","refreshToken":"aorOLD"}"#
        );
        let json = String::from_utf8(encode(&CreateTokenRequest::authorization_code(
            "cid",
            &sec,
            &AuthorizationCode::new("c0de"),
            "http://127.0.0.1:49152/oauth/callback",
            &CodeVerifier::new("v"),
        )))
        .unwrap();
        assert_eq!(
            json,
            r#"{"grantType":"authorization_code","clientId":"cid","clientSecret":"sec","redirectUri":"http://127.0.0.1:49152/oauth/callback","codeVerifier":"v","code":"c0de"}"#
        );
    }

    #[test]
    fn register_request_omits_absent_members() {
        let req = RegisterClientRequest {
            client_name: "botocore-client-my-sso".into(),
            client_type: CLIENT_TYPE_PUBLIC.into(),
            scopes: Some(vec![DEFAULT_SCOPE.into()]),
            redirect_uris: None,
            grant_types: None,
            issuer_url: None,
            entitled_application_arn: None,
        };
        assert_eq!(
            String::from_utf8(encode(&req)).unwrap(),
            r#"{"clientName":"botocore-client-my-sso","clientType":"public","scopes":["sso:account:access"]}"#
        );
        // The service side decodes botocore's spaced JSON and its other members.
        let full: RegisterClientRequest = decode(
            br#"{"clientName": "n", "clientType": "public", "grantTypes": ["authorization_code", "refresh_token"], "redirectUris": ["http://127.0.0.1/oauth/callback"], "issuerUrl": "https://x.awsapps.com/start", "entitledApplicationArn": "arn:x"}"#,
        )
        .unwrap();
        assert_eq!(full.grant_types.unwrap().len(), 2);
        assert_eq!(
            full.issuer_url.as_deref(),
            Some("https://x.awsapps.com/start")
        );
        assert_eq!(full.entitled_application_arn.as_deref(), Some("arn:x"));
        // A required member that is missing is named in the error.
        let err = decode::<RegisterClientRequest>(br#"{"clientType":"public"}"#).unwrap_err();
        assert!(err.to_string().contains("clientName"), "{err}");
    }

    #[test]
    fn real_start_response_decodes() {
        let body = br#"{"deviceCode":"abc","expiresIn":600,"interval":1,"userCode":"PMPJ-VZCJ","verificationUri":"https://device.sso.us-west-2.amazonaws.com/","verificationUriComplete":"https://device.sso.us-west-2.amazonaws.com/?user_code=PMPJ-VZCJ"}"#;
        let r: StartDeviceAuthorizationResponse = decode(body).unwrap();
        assert_eq!(r.user_code.as_deref(), Some("PMPJ-VZCJ"));
        assert_eq!(r.expires_in, Some(600));
        assert_eq!(r.interval, Some(1));
    }

    #[test]
    fn responses_tolerate_null_absent_and_unknown_members() {
        let r: CreateTokenResponse = decode(
            br#"{"accessToken":"aoa","tokenType":null,"idToken":null,"expiresIn":3600,"brandNew":{"x":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(r.token_type, None);
        assert_eq!(r.refresh_token, None);
        assert_eq!(r.access_token.unwrap().secret(), "aoa");
        let r: RegisterClientResponse = decode(b"{}").unwrap();
        assert_eq!(r, RegisterClientResponse::default());
        let r: RegisterClientResponse = decode(
            br#"{"clientId":"_yzkThXVzLWVhc3QtMQEXAMPLECLIENTID","clientIdIssuedAt":1579725929,"clientSecret":"VERYLONGSECRET","clientSecretExpiresAt":1587584729}"#,
        )
        .unwrap();
        assert_eq!(r.client_secret_expires_at, Some(1_587_584_729));
    }

    #[test]
    fn opaque_values_of_8_kib_and_more_round_trip() {
        let big = "x".repeat(64 * 1024);
        let body = format!(r#"{{"accessToken":"{big}","refreshToken":"{big}","expiresIn":1}}"#);
        let r: CreateTokenResponse = decode(body.as_bytes()).unwrap();
        assert_eq!(r.access_token.unwrap().secret().len(), big.len());
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{",
            b"\xff\xfe",
            b"{\"expiresIn\":\"600\"}",
        ] {
            assert!(decode::<StartDeviceAuthorizationResponse>(body).is_err());
        }
    }

    #[test]
    fn error_body_round_trips() {
        let body = br#"{"error":"authorization_pending","error_description":"Authorization is still pending"}"#;
        let e: ErrorBody = decode(body).unwrap();
        assert_eq!(encode(&e), body.to_vec());
    }
}
