//! Sending one delivery, the Standard Webhooks way: a POST of the event's JSON with the headers
//! `webhook-id` (the same on every attempt: receivers drop repeats), `webhook-timestamp` (unix
//! seconds) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`
//! under the secret; during a rotation's overlap, one signature per secret, space-separated).
//! Redirects are not followed, the target's addresses are checked ((`crate::targets`)), and an
//! attempt gives up after [`TIMEOUT`].

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{KeyInit, Mac};

use crate::targets::Targets;

/// The longest an attempt waits for the receiver's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The secrets' prefix (Standard Webhooks' convention).
const PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw[..]);
    format!("{PREFIX}{}", STANDARD.encode(raw))
}

/// The signature (`v1,…`) of a message under `secret`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix(PREFIX).unwrap_or(secret))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// How an attempt went.
#[derive(Debug)]
pub struct Outcome {
    /// The answer's status, if one came.
    pub status: Option<u16>,
    pub millis: i64,
    /// What went wrong, if it did (a status outside 2xx included).
    pub error: Option<String>,
}

/// The client deliveries go through.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    targets: Targets,
}

impl Sender {
    pub fn new(targets: Targets) -> Sender {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(TIMEOUT)
            .user_agent("strata-webhooks")
            .dns_resolver(targets.resolver())
            .build()
            .expect("an HTTP client");
        Sender { client, targets }
    }

    /// POSTs `body` to `url`, signed with each of `secrets`.
    pub async fn send(&self, url: &str, id: &str, body: &str, secrets: &[&str]) -> Outcome {
        let start = Instant::now();
        let done = |status: Option<u16>, error: Option<String>| Outcome {
            status,
            millis: start.elapsed().as_millis() as i64,
            error,
        };
        if let Err(e) = self.targets.check_url(url) {
            return done(None, Some(e));
        }
        let timestamp = crate::db::now();
        let signatures: Vec<String> = secrets
            .iter()
            .map(|s| sign(s, id, timestamp, body))
            .collect();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => done(Some(r.status().as_u16()), None),
            Ok(r) => {
                let status = r.status();
                let why = if status.is_redirection() {
                    format!("answered {status}: redirects are not followed")
                } else {
                    format!("answered {status}")
                };
                done(Some(status.as_u16()), Some(why))
            }
            Err(e) => {
                // The chain of causes says why (a refused address, a timeout, a reset).
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why = format!("{why}: {s}");
                    source = s.source();
                }
                done(None, Some(why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard() {
        // Standard Webhooks' own example (the reference libraries' tests).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().starts_with(PREFIX));
        assert_ne!(new_secret(), new_secret());
    }
}
