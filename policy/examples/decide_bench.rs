//! Policy decision latency with Fybrik's sample policy and `lib.rego` loaded: one decision per
//! iteration for the PaySim resource (the rule fires) and for an untagged one (no rule fires),
//! each reported as median and p99 in microseconds, cold (every input new: evaluated by regorus)
//! and warm (the same input again: the decision kept by the compiled set).
//!
//! `cargo run --release -p strata-policy --example decide_bench [iterations]`

use std::time::{Duration, Instant};

use serde_json::json;
use strata_policy::{tags_from_json, Column, Input, Metadata, Policies, PolicyFile, Subject};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/governance/policies/"
    );
    let files = ["sample-policy.rego", "lib.rego"]
        .iter()
        .map(|f| PolicyFile {
            path: (*f).to_owned(),
            text: std::fs::read_to_string(format!("{root}{f}")).unwrap(),
        })
        .collect();
    let policies = Policies::compile("bench", files, Duration::from_millis(100)).unwrap();
    let header = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud";
    let input = |finance: bool, n: usize| Input {
        action_type: "read".into(),
        processing_location: Some("theshire".into()),
        metadata: Metadata {
            name: "alice/paysim/paysim-csv".into(),
            dataset: "alice/paysim".into(),
            resource: Some("paysim-csv".into()),
            geography: Some("theshire".into()),
            tags: tags_from_json(Some(&json!({ "finance": finance }))),
            columns: header
                .split(',')
                .map(|c| {
                    let pii = ["nameOrig", "oldbalanceOrg", "newbalanceOrig"].contains(&c);
                    Column::new(c, tags_from_json(Some(&json!({ "PII": pii }))))
                })
                .collect(),
        },
        // Another intent each time makes an input the policies have not decided yet.
        intent: Some(format!("fraud detection {n}")),
        subject: Subject {
            user: Some("alice".into()),
            roles: vec!["scientist".into()],
            ..Subject::default()
        },
        validated: true,
    };
    println!("policy decisions, {n} each (Fybrik's sample-policy.rego + lib.rego)");
    for (label, finance) in [
        ("finance (redacts 3 columns)", true),
        ("untagged (no rule)", false),
    ] {
        for (how, fresh) in [("cold", true), ("warm", false)] {
            let inputs: Vec<Input> = (0..n + n / 10)
                .map(|i| input(finance, if fresh { i + 1 } else { 0 }))
                .collect();
            let (warmup, timed) = inputs.split_at(n / 10);
            for i in warmup {
                std::hint::black_box(policies.decide(i));
            }
            let mut times: Vec<Duration> = timed
                .iter()
                .map(|i| {
                    let t = Instant::now();
                    std::hint::black_box(policies.decide(i));
                    t.elapsed()
                })
                .collect();
            times.sort();
            let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
            println!(
                "  {label:30} {how}  median {:>7.1} µs   p99 {:>7.1} µs",
                at(0.5).as_secs_f64() * 1e6,
                at(0.99).as_secs_f64() * 1e6
            );
        }
    }
    let counts = policies.counts();
    println!(
        "  decisions found kept: {}, made: {}",
        counts.found, counts.made
    );
}
