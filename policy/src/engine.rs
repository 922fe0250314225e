//! A compiled set of Rego policies: every `.rego` file of the policy dataset at one revision,
//! old-style (v0) syntax accepted so Fybrik's policies load unchanged. A decision clones the
//! compiled engine (cheap: its modules are shared), sets the input and evaluates
//! [`RULE`] under a time limit.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

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

/// Policies ready to decide. `Policies::default()` has none and decides nothing.
#[derive(Clone, Default)]
pub struct Policies {
    engine: Option<regorus::Engine>,
    files: Vec<String>,
    version: String,
    limit: Duration,
    /// Every string literal of the files ([`Policies::names`]).
    names: Arc<BTreeSet<String>>,
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
        };
        // A trial evaluation finds what parsing does not (unknown functions, bad references).
        policies
            .eval(&Input {
                action_type: "read".into(),
                ..Input::default()
            })
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

    /// The decision for `input`. An evaluation that fails or runs out of time, or rules strata
    /// cannot read, deny (fail closed); the reason is in the decision.
    pub fn decide(&self, input: &Input) -> Decision {
        match self.eval(input) {
            Ok(d) => d,
            Err(why) => Decision::failed(&why),
        }
    }

    fn eval(&self, input: &Input) -> Result<Decision, String> {
        let Some(engine) = &self.engine else {
            return Ok(Decision::default());
        };
        let mut engine = engine.clone();
        let value = regorus::Value::from(input.to_json());
        engine.set_input(value);
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
}
