//! SQL text as anyone may send it (`POST /api/v1/sql`, Flight SQL, the `/sql` page), through what
//! the server does before it reads a table: the length bound, the parse, the depth bounds, the
//! query-only rule, and for a query of the private form, the rewrite into the exact query the
//! noise is added to. The rewrite must parse as written, from the same table: nothing a caller
//! writes may make it read another table or other rows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_core::sql::{bounds, private, statement};

/// The SQL runtime's threads have 256 MiB stacks (`strata_core::sql`); so does this one.
const STACK: usize = 256 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if bounds::check_text(text).is_err() {
        return;
    }
    let text = text.to_owned();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || check(&text))
        .unwrap()
        .join()
        .unwrap();
});

fn check(text: &str) {
    let Ok(parsed) = statement(text) else {
        return;
    };
    let Ok(shape) = private::shape(&parsed) else {
        return;
    };
    let exact = private::exact_sql(&shape);
    let rewritten = statement(&exact).unwrap_or_else(|e| {
        panic!(
            "the rewrite of {text:?} does not parse: {exact:?}: {}",
            e.message
        )
    });
    // What the parser read is what the rewriter wrote, word for word: no name or value of the
    // caller's can end a clause early or start another (a comment, a quote, a semicolon).
    assert_eq!(
        rewritten.to_string(),
        exact,
        "the rewrite of {text:?} reads otherwise"
    );
    assert!(
        exact.contains(&format!(" FROM {}", shape.from)),
        "the rewrite reads another table: {text:?} → {exact:?}"
    );
}
