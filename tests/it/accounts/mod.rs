//! Accounts: passwords, sessions and tokens in the browser, the OAuth provider, sign-in through identity providers.

mod consents;
mod hub;
mod oauth;
mod passwords;
mod sso;
mod sso_browser;
