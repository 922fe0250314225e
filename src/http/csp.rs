//! The Content-Security-Policy of every page: one policy ([`CSP`]), the bucket's origin joined to
//! `connect-src` for browser uploads that go straight to it (`crate::http::ctx::layer` swaps it
//! in), and a form target joined to `form-action` for the OAuth consent page.

use axum::http::HeaderValue;

/// The one Content-Security-Policy of every page: own styles and scripts only, no inline code,
/// never framed, framing only strata's own (a PDF for the browser's viewer). WebAssembly (the
/// upload's sha256) may compile; no JavaScript `eval` may run.
/// Scripts may connect to strata and to `part_origin`, the bucket browser uploads go to.
pub fn csp(part_origin: Option<&str>) -> String {
    let connect = part_origin.map_or(String::new(), |o| format!(" {o}"));
    format!(
        "default-src 'none'; style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
         worker-src 'self'; img-src 'self' data:; frame-src 'self'; connect-src 'self'{connect}; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

/// [`csp`] for a form whose answer redirects to `target` (the OAuth consent page): its origin,
/// or its scheme for a native app's `com.example.app:/callback`, joins `form-action`.
pub fn csp_with_form_target(target: &str) -> Option<HeaderValue> {
    let url = url::Url::parse(target).ok()?;
    let source = match url.origin() {
        url::Origin::Tuple(..) => url.origin().ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let policy = csp(None).replace(
        "form-action 'self'",
        &format!("form-action 'self' {source}"),
    );
    HeaderValue::from_str(&policy).ok()
}

/// [`csp`] of a server whose uploads go to strata only; the HTTP layer puts the configured
/// bucket's in its place (`crate::http::ctx::layer`).
pub static CSP: std::sync::LazyLock<HeaderValue> =
    std::sync::LazyLock::new(|| HeaderValue::from_str(&csp(None)).expect("the CSP is ASCII"));
