//! A compiled set of Rego policies: every `.rego` file of the policy dataset at one revision,
//! old-style (v0) syntax accepted so Fybrik's policies load unchanged. A decision clones the
//! compiled engine (cheap: its modules are shared), sets the input and evaluates
//! [`RULE`] under a time limit.
//!
//! Decisions are kept ([`Decided`]): a decision is a function of its input alone, so the same
//! input decided again by the same compiled set gets the same answer from memory. regorus is
//! built without its clock, UUID, network and runtime builtins (Cargo.toml: a policy naming one
//! does not compile); a set whose text names one that changes by itself ([`UNSTEADY`], e.g.
//! `rand.intn`) keeps nothing. A new policy version is a new `Policies`, with nothing kept: a policy
//! change is seen by the very next decision. Failed evaluations (a time limit, an error) are not
//! kept: the next asks again.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest;

use regorus::utils::limits::ExecutionTimerConfig;

use crate::decision::Decision;
use crate::input::Input;

/// The rule strata asks for: Fybrik's `rule` set in package `dataapi.authz`.
pub const RULE: &str = "data.dataapi.authz.rule";

/// One policy file: its path in the policy dataset and its text.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub path: String,
    pub text: String,
}

/// Why a set of policies cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CompileError {
    /// The file at fault, or `*` when the set as a whole is.
    pub path: String,
    pub message: String,
}

/// Builtins whose answer changes by itself: a set of policies naming one keeps no decision.
pub const UNSTEADY: [&str; 6] = [
    "rand.intn",
    "time.now_ns",
    "uuid.rfc4122",
    "opa.runtime",
    "http.send",
    "net.lookup_ip_addr",
];

/// How many decisions one compiled set keeps: the inputs recently decided (a subject, a
/// resource with its tags and columns, an intent), least recently used first out.
pub const KEPT: usize = 4096;

/// Policies ready to decide. `Policies::default()` has none and decides nothing.
#[derive(Clone, Default)]
pub struct Policies {
    engine: Option<regorus::Engine>,
    files: Vec<String>,
    version: String,
    limit: Duration,
    /// Every string literal of the files ([`Policies::names`]).
    names: Arc<BTreeSet<String>>,
    /// The decisions made so far, shared by every clone of this compiled set; `None` when the
    /// policies name an [`UNSTEADY`] builtin.
    decided: Option<Arc<Decided>>,
}

/// Decisions kept by the sha256 of their input's JSON (what the policies see), with counts of
/// the decisions found here and made afresh.
struct Decided {
    kept: Mutex<hashlink::LruCache<[u8; 32], Decision>>,
    found: AtomicU64,
    made: AtomicU64,
}

impl Decided {
    fn lock(&self) -> std::sync::MutexGuard<'_, hashlink::LruCache<[u8; 32], Decision>> {
        // A panic while holding the lock leaves a consistent map (each call is one operation).
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for Decided {
    fn default() -> Decided {
        Decided {
            kept: Mutex::new(hashlink::LruCache::new(KEPT)),
            found: AtomicU64::new(0),
            made: AtomicU64::new(0),
        }
    }
}

/// How often decisions were found kept and made afresh ([`Policies::counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecisionCounts {
    pub found: u64,
    pub made: u64,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies")
            .field("files", &self.files)
            .field("version", &self.version)
            .finish()
    }
}

impl Policies {
    /// Compiles `files` (named `version`, e.g. the commit they come from). Each evaluation may
    /// run for `limit`. A set with no file is empty; otherwise a file that does not parse, or a
    /// set in which [`RULE`] cannot be evaluated, is refused.
    pub fn compile(
        version: impl Into<String>,
        files: Vec<PolicyFile>,
        limit: Duration,
    ) -> Result<Policies, CompileError> {
        let version = version.into();
        if files.is_empty() {
            return Ok(Policies {
                version,
                limit,
                ..Policies::default()
            });
        }
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(true);
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit,
            check_interval: NonZeroU32::new(32).unwrap_or(NonZeroU32::MIN),
        });
        let steady = !files
            .iter()
            .any(|f| UNSTEADY.iter().any(|b| f.text.contains(b)));
        let mut names = Vec::with_capacity(files.len());
        let mut literals = BTreeSet::new();
        for f in files {
            literals.extend(crate::literals::strings(&f.text));
            engine
                .add_policy(f.path.clone(), f.text)
                .map_err(|e| CompileError {
                    path: f.path.clone(),
                    message: e.to_string(),
                })?;
            names.push(f.path);
        }
        let defines = engine
            .get_packages()
            .map_err(|e| CompileError {
                path: "*".into(),
                message: e.to_string(),
            })?
            .iter()
            .any(|p| p == "data.dataapi.authz");
        if !defines {
            return Err(CompileError {
                path: "*".into(),
                message: "no file is in package dataapi.authz, so no rule decides: strata asks \
                          for data.dataapi.authz.rule"
                    .into(),
            });
        }
        let policies = Policies {
            engine: Some(engine),
            files: names,
            version,
            limit,
            names: Arc::new(literals),
            decided: steady.then(Arc::default),
        };
        // A trial evaluation finds what parsing does not (unknown functions, bad references).
        policies
            .eval(
                Input {
                    action_type: "read".into(),
                    ..Input::default()
                }
                .to_json(),
            )
            .map_err(|message| CompileError {
                path: "*".into(),
                message,
            })?;
        Ok(policies)
    }

    /// Whether there are no policies (every read is allowed as the other gates say).
    pub fn is_empty(&self) -> bool {
        self.engine.is_none()
    }

    /// The files the policies came from.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Every string the policies' text names (their string literals): a column or resource
    /// whose name is among them may be what a rule looks for.
    pub fn names(&self) -> &BTreeSet<String> {
        &self.names
    }

    /// What the policies were compiled from (a commit id).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The decision for `input`: the one kept for the same input, or made now (and kept). An
    /// evaluation that fails or runs out of time, or rules strata cannot read, deny (fail
    /// closed); the reason is in the decision, and such a decision is not kept.
    pub fn decide(&self, input: &Input) -> Decision {
        if self.engine.is_none() {
            return Decision::default();
        }
        let json = input.to_json();
        let Some(decided) = &self.decided else {
            return self.eval(json).unwrap_or_else(|why| Decision::failed(&why));
        };
        let key = key(&json);
        if let Some(d) = self.kept(&key) {
            return d;
        }
        decided.made.fetch_add(1, Ordering::Relaxed);
        match self.eval(json) {
            Ok(d) => {
                decided.lock().insert(key, d.clone());
                d
            }
            Err(why) => Decision::failed(&why),
        }
    }

    /// The decision kept for `input`, if one is: never evaluates, so it never waits (a caller
    /// on an async thread asks this first and evaluates elsewhere only when it is `None`).
    pub fn kept_decision(&self, input: &Input) -> Option<Decision> {
        if self.engine.is_none() {
            return Some(Decision::default());
        }
        self.kept(&key(&input.to_json()))
    }

    /// How many decisions were found kept, and made afresh, since these policies were compiled
    /// (zero for a set that keeps none).
    pub fn counts(&self) -> DecisionCounts {
        self.decided
            .as_ref()
            .map(|d| DecisionCounts {
                found: d.found.load(Ordering::Relaxed),
                made: d.made.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }

    fn kept(&self, key: &[u8; 32]) -> Option<Decision> {
        let decided = self.decided.as_ref()?;
        let d = decided.lock().get(key).cloned();
        if d.is_some() {
            decided.found.fetch_add(1, Ordering::Relaxed);
        }
        d
    }

    fn eval(&self, input: serde_json::Value) -> Result<Decision, String> {
        let Some(engine) = &self.engine else {
            return Ok(Decision::default());
        };
        let mut engine = engine.clone();
        engine.set_input(regorus::Value::from(input));
        let out = engine.eval_rule(RULE.to_owned()).map_err(|e| {
            let e = e.to_string();
            if e.contains("execution exceeded") || e.contains("time limit") {
                format!("the policies ran past their limit of {:?}", self.limit)
            } else {
                e
            }
        })?;
        let json = if out == regorus::Value::Undefined {
            serde_json::Value::Null
        } else {
            serde_json::to_value(&out).map_err(|e| e.to_string())?
        };
        Decision::from_rules(&json)
    }
}

/// The key a decision is kept under: the sha256 of its input's JSON (serde_json's maps are
/// ordered, so equal inputs write equal text).
fn key(input: &serde_json::Value) -> [u8; 32] {
    sha2::Sha256::digest(input.to_string().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{tags_from_json, Column, Metadata};
    use crate::ColumnAction;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../fixtures/governance/policies/sample-policy.rego");
    const LIB: &str = include_str!("../../fixtures/governance/policies/lib.rego");

    fn fybrik() -> Policies {
        Policies::compile(
            "v1",
            vec![
                PolicyFile {
                    path: "sample-policy.rego".into(),
                    text: SAMPLE.into(),
                },
                PolicyFile {
                    path: "lib.rego".into(),
                    text: LIB.into(),
                },
            ],
            Duration::from_millis(200),
        )
        .unwrap()
    }

    fn paysim(tags: serde_json::Value) -> Input {
        Input {
            action_type: "read".into(),
            processing_location: Some("theshire".into()),
            metadata: Metadata {
                name: "fybrik-notebook-sample/paysim-csv".into(),
                dataset: "fybrik-notebook-sample/paysim".into(),
                resource: Some("paysim-csv".into()),
                geography: Some("theshire".into()),
                tags: tags_from_json(Some(&tags)),
                columns: ["step", "nameOrig", "oldbalanceOrg", "newbalanceOrig"]
                    .iter()
                    .map(|c| {
                        let pii =
                            c.starts_with("name") || c.ends_with("Org") || c.ends_with("Orig");
                        Column::new(*c, tags_from_json(Some(&json!({ "PII": pii }))))
                    })
                    .collect(),
            },
            ..Input::default()
        }
    }

    #[test]
    fn fybriks_sample_redacts_the_pii_columns_of_finance_data() {
        let p = fybrik();
        let d = p.decide(&paysim(json!({"finance": true})));
        assert!(!d.denied(), "{d:?}");
        let redacted: Vec<_> = d.columns.keys().cloned().collect();
        assert_eq!(redacted, ["nameOrig", "newbalanceOrig", "oldbalanceOrg"]);
        assert!(d.columns.values().all(|a| *a == ColumnAction::Redact));
        // Not finance: no rule fires, nothing to do.
        let d = p.decide(&paysim(json!({"finance": false})));
        assert_eq!(d, Decision::default());
    }

    #[test]
    fn broken_policies_are_refused() {
        let compile = |text: &str| {
            Policies::compile(
                "v",
                vec![PolicyFile {
                    path: "p.rego".into(),
                    text: text.into(),
                }],
                Duration::from_millis(100),
            )
        };
        let e = compile("package dataapi.authz\nrule[x] { x := ").unwrap_err();
        assert_eq!(e.path, "p.rego");
        let e = compile("package other\nallow { true }").unwrap_err();
        assert!(e.message.contains("dataapi.authz"), "{e}");
        let e = compile("package dataapi.authz\nrule[x] { x := no_such_function(1) }").unwrap_err();
        assert_eq!(e.path, "*", "{e}");
        assert!(Policies::compile("v", vec![], Duration::from_millis(1))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn errors_and_unknown_actions_fail_closed() {
        let p = Policies::compile(
            "v",
            vec![PolicyFile {
                path: "p.rego".into(),
                text: r#"package dataapi.authz
rule[{"action": {"name": "Teleport"}, "policy": "?"}] { input.resource.metadata.tags.odd }
rule[{"action": {"name": "Deny"}, "policy": "div"}] { x := 1 / input.context.zero; x > 0 }
"#
                .into(),
            }],
            Duration::from_millis(100),
        )
        .unwrap();
        let mut input = paysim(json!({"odd": true}));
        let d = p.decide(&input);
        assert!(
            d.denied() && d.error.as_deref().unwrap().contains("Teleport"),
            "{d:?}"
        );
        input.metadata.tags = tags_from_json(Some(&json!({})));
        assert!(!p.decide(&input).denied());
    }

    #[test]
    fn a_runaway_policy_is_cut_off_and_denies() {
        let p = Policies::compile(
            "v",
            vec![PolicyFile {
                path: "slow.rego".into(),
                text: r#"package dataapi.authz
rule[{"action": {"name": "RedactAction", "columns": ["a"]}, "policy": "slow"}] {
  input.resource.metadata.tags.slow
  count([x | numbers.range(1, 3000)[i]; numbers.range(1, 3000)[j]; x := i * j]) > 0
}
"#
                .into(),
            }],
            Duration::from_millis(50),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let d = p.decide(&paysim(json!({"slow": true})));
        assert!(
            d.denied() && d.error.as_deref().unwrap().contains("limit"),
            "{d:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_kept_decision_is_the_one_made_and_failures_are_not_kept() {
        let p = fybrik();
        let finance = paysim(json!({"finance": true}));
        let first = p.decide(&finance);
        assert_eq!(p.kept_decision(&finance), Some(first.clone()));
        assert_eq!(p.decide(&finance), first);
        assert_eq!(p.counts(), DecisionCounts { found: 2, made: 1 });
        // Another input (another subject) is decided afresh.
        let mut bob = finance.clone();
        bob.subject.user = Some("bob".into());
        assert_eq!(p.kept_decision(&bob), None);
        assert_eq!(p.decide(&bob), first);
        assert_eq!(p.counts().made, 2);
        // A clone of the compiled set shares what it kept; another compilation keeps nothing.
        assert_eq!(p.clone().kept_decision(&bob), Some(first));
        assert_eq!(fybrik().kept_decision(&bob), None);
    }

    #[test]
    fn at_most_kept_decisions_are_kept_the_least_recent_go_first() {
        let p = fybrik();
        let input = |n: usize| {
            let mut i = paysim(json!({"finance": true}));
            i.intent = Some(format!("intent {n}"));
            i
        };
        for n in 0..=KEPT {
            p.decide(&input(n));
        }
        assert_eq!(p.kept_decision(&input(0)), None, "the oldest went");
        assert!(p.kept_decision(&input(1)).is_some());
        assert!(p.kept_decision(&input(KEPT)).is_some());
    }

    #[test]
    fn builtins_whose_answer_changes_by_itself_are_refused_or_keep_nothing() {
        for call in UNSTEADY {
            let args = match call {
                "rand.intn" => "\"x\", 1000000000",
                "uuid.rfc4122" => "\"x\"",
                "http.send" => "{\"method\": \"GET\", \"url\": \"http://127.0.0.1:9/\"}",
                "net.lookup_ip_addr" => "\"localhost\"",
                _ => "",
            };
            let text = format!(
                "package dataapi.authz\nrule[{{\"action\": {{\"name\": \"Deny\"}}, \"policy\": sprintf(\"%v\", [x])}}] {{ input.resource.metadata.tags.finance; x := {call}({args}) }}\n"
            );
            let compiled = Policies::compile(
                "v",
                vec![PolicyFile {
                    path: "p.rego".into(),
                    text,
                }],
                Duration::from_millis(100),
            );
            let Ok(p) = compiled else { continue };
            let input = paysim(json!({"finance": true}));
            p.decide(&input);
            assert_eq!(p.kept_decision(&input), None, "{call}: a decision was kept");
            assert_eq!(p.counts(), DecisionCounts::default(), "{call}");
        }
    }

    #[test]
    fn a_decision_that_ran_out_of_time_is_not_kept() {
        let p = Policies::compile(
            "v",
            vec![PolicyFile {
                path: "slow.rego".into(),
                text: r#"package dataapi.authz
rule[{"action": {"name": "RedactAction", "columns": ["a"]}, "policy": "slow"}] {
  input.resource.metadata.tags.slow
  count([x | numbers.range(1, 3000)[i]; numbers.range(1, 3000)[j]; x := i * j]) > 0
}
"#
                .into(),
            }],
            Duration::from_millis(20),
        )
        .unwrap();
        let input = paysim(json!({"slow": true}));
        assert!(p.decide(&input).denied());
        assert_eq!(p.kept_decision(&input), None);
        assert!(p.decide(&input).denied());
        assert_eq!(p.counts(), DecisionCounts { found: 0, made: 2 });
    }
}
