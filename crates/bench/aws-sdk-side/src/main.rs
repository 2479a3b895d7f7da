//! The benchmark's AWS SDK side: the same work as the ssoflow side — a
//! device-code sign-in (RegisterClient, StartDeviceAuthorization, CreateToken
//! polled as the service asks), then one refresh (CreateToken with the
//! refresh token) — with the official `aws-sdk-ssooidc` and `aws-config`,
//! against the endpoint URL given as the only argument.
//!
//! The SDK is async-only, so a minimal blocking program builds a tokio
//! current-thread runtime and blocks on it: no worker threads, the cheapest
//! runtime tokio offers. The polling loop is written by hand, as a user of
//! the SDK has to (the SDK has no device-flow helper): sleep the announced
//! interval; `AuthorizationPendingException` → poll again;
//! `SlowDownException` → add 5 s to the interval (RFC 8628 §3.5).
//!
//! The configuration names the region and the endpoint and turns credentials
//! off (`no_credentials`): SSO OIDC's operations are unsigned, so nothing
//! looks for credentials or asks the instance metadata service (IMDS).
//!
//! Prints no token, secret or code: one line with the token's lifetimes.

use std::process::ExitCode;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_ssooidc::config::Region;

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: bench-aws-sdk ENDPOINT_URL   (e.g. an emulator's http://127.0.0.1:PORT)");
        return ExitCode::from(2);
    };
    // The SDK needs an async runtime; a current-thread one is the smallest.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-aws-sdk: cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-aws-sdk: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: String) -> Result<(), Error> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .no_credentials()
        .load()
        .await;
    let client = aws_sdk_ssooidc::Client::new(&config);

    let registration = client
        .register_client()
        .client_name("bench-aws-sdk")
        .client_type("public")
        .scopes("sso:account:access")
        .send()
        .await?;
    let client_id = registration
        .client_id()
        .ok_or("RegisterClient: no clientId")?;
    let client_secret = registration
        .client_secret()
        .ok_or("RegisterClient: no clientSecret")?;

    let authorization = client
        .start_device_authorization()
        .client_id(client_id)
        .client_secret(client_secret)
        .start_url(START_URL)
        .send()
        .await?;
    let device_code = authorization
        .device_code()
        .ok_or("StartDeviceAuthorization: no deviceCode")?;
    // What a program shows the person; the code itself is left out here.
    eprintln!(
        "approve the sign-in at {}",
        authorization.verification_uri().unwrap_or_default()
    );

    // The service's interval, or RFC 8628's default of 5 s when it sends none.
    let seconds = u64::try_from(authorization.interval()).unwrap_or(0);
    let mut interval = Duration::from_secs(if seconds > 0 { seconds } else { 5 });
    let token = loop {
        tokio::time::sleep(interval).await;
        let answer = client
            .create_token()
            .client_id(client_id)
            .client_secret(client_secret)
            .grant_type(DEVICE_CODE_GRANT)
            .device_code(device_code)
            .send()
            .await;
        match answer {
            Ok(token) => break token,
            Err(error) => match error.as_service_error() {
                Some(e) if e.is_authorization_pending_exception() => continue,
                Some(e) if e.is_slow_down_exception() => interval += Duration::from_secs(5),
                _ => return Err(error.into()),
            },
        }
    };
    let refresh_token = token
        .refresh_token()
        .ok_or("CreateToken: no refreshToken")?;

    let refreshed = client
        .create_token()
        .client_id(client_id)
        .client_secret(client_secret)
        .grant_type("refresh_token")
        .refresh_token(refresh_token)
        .send()
        .await?;
    println!(
        "signed in (token valid {} s), refreshed (valid {} s)",
        token.expires_in(),
        refreshed.expires_in()
    );
    Ok(())
}
