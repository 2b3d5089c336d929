//! The two secrets — the MongoDB connection string and the JWT signing secret — read once per
//! cold start. In AWS they are SSM Parameter Store SecureStrings named by `MONGODB_URI_PARAM`
//! and `JWT_SECRET_PARAM` (never plain Lambda environment variables, which anyone allowed
//! `lambda:GetFunctionConfiguration` can read); locally `MONGODB_URI` and `JWT_SECRET`.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::config::{BehaviorVersion, Region};

use crate::auth::token::MIN_SECRET_BYTES;
use crate::config::{Config, Mode, StartupError, env_var};

/// Fills in `config.mongodb_uri` from SSM when `MONGODB_URI_PARAM` is set, and returns the JWT
/// secret when `needs_tokens` (the register function never signs or checks a token, so it is
/// not given the secret at all). Both parameters come back from one SSM call.
pub async fn load(
    config: &mut Config,
    mode: Mode,
    needs_tokens: bool,
) -> Result<Option<Vec<u8>>, StartupError> {
    let uri_param = env_var("MONGODB_URI_PARAM");
    let jwt_param = env_var("JWT_SECRET_PARAM").filter(|_| needs_tokens);
    let names: Vec<&str> = [&uri_param, &jwt_param]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let mut fetched = if names.is_empty() {
        HashMap::new()
    } else {
        fetch(&ssm_client(aws_from_env()), &names).await?
    };
    if let Some(name) = &uri_param {
        config.mongodb_uri = fetched.remove(name).unwrap_or_default();
    }
    if !needs_tokens {
        return Ok(None);
    }
    let secret = match (&jwt_param, env_var("JWT_SECRET")) {
        (Some(name), _) => fetched.remove(name).unwrap_or_default().into_bytes(),
        (None, Some(secret)) => secret.into_bytes(),
        (None, None) if mode == Mode::Local => {
            tracing::warn!(
                "JWT_SECRET is not set: generated a random one for this run; tokens will not outlive the process"
            );
            let mut secret = vec![0u8; 48];
            getrandom::fill(&mut secret)
                .map_err(|e| format!("no randomness for a JWT secret: {e}"))?;
            secret
        }
        (None, None) => {
            return Err("set JWT_SECRET_PARAM (an SSM SecureString) or JWT_SECRET".into());
        }
    };
    check_secret(&secret)?;
    Ok(Some(secret))
}

pub fn check_secret(secret: &[u8]) -> Result<(), StartupError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the JWT secret has {} bytes; at least {MIN_SECRET_BYTES} are required",
            secret.len()
        )
        .into());
    }
    Ok(())
}

/// SSM client settings from what Lambda puts in every function's environment: the region and
/// the execution role's credentials (and an endpoint override, if any).
/// `aws_config::load_from_env` would also try profile files, web identity (STS), container and
/// instance metadata, which no Lambda function reaches but every binary carried (0.4 MB of each
/// zip). Locally, export credentials (`aws configure export-credentials --format env`) and
/// `AWS_REGION`.
fn aws_from_env() -> aws_sdk_ssm::config::Builder {
    let region = env_var("AWS_REGION").or_else(|| env_var("AWS_DEFAULT_REGION"));
    let endpoint = env_var("AWS_ENDPOINT_URL_SSM").or_else(|| env_var("AWS_ENDPOINT_URL"));
    let mut config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(Region::new))
        .credentials_provider(EnvironmentVariableCredentialsProvider::new());
    config.set_endpoint_url(endpoint);
    config
}

/// An SSM client that retries throttling and transient errors with jittered exponential
/// backoff, so a burst of cold starts (each one GetParameters call) rides out SSM's
/// per-account rate limit instead of failing init.
pub fn ssm_client(config: aws_sdk_ssm::config::Builder) -> aws_sdk_ssm::Client {
    let retry = RetryConfig::standard()
        .with_max_attempts(6)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(2));
    aws_sdk_ssm::Client::from_conf(config.retry_config(retry).build())
}

/// The decrypted values of `names`, in one GetParameters call. A missing parameter, or one
/// without a value, stops start-up with its name.
pub async fn fetch(
    client: &aws_sdk_ssm::Client,
    names: &[&str],
) -> Result<HashMap<String, String>, StartupError> {
    let output = client
        .get_parameters()
        .set_names(Some(names.iter().map(|n| n.to_string()).collect()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "reading SSM parameters {names:?}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        })?;
    if let Some(missing) = output.invalid_parameters().first() {
        return Err(format!("SSM parameter {missing} does not exist or is not readable").into());
    }
    let values: HashMap<String, String> = output
        .parameters()
        .iter()
        .filter_map(|p| Some((p.name()?.to_owned(), p.value()?.to_owned())))
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
    match names.iter().find(|name| !values.contains_key(**name)) {
        Some(name) => Err(format!("SSM parameter {name} has no value").into()),
        None => Ok(values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert!(check_secret(b"too short").is_err());
        assert!(check_secret(&[7u8; MIN_SECRET_BYTES]).is_ok());
    }
}
