//! Differentially private aggregates (`AggregateOnly`): beside Fybrik's sample, a policy gives
//! everyone but alice aggregates only of finance tables (ε 0.5 a query, a budget of 40). bob is
//! refused rows, statistics, SQL rows and raw bytes with a pointer to the aggregate endpoint; alice
//! gets exact figures; bob's counts carry Laplace noise of scale 1/ε (checked statistically), his
//! sums, means and histograms are noisy and bounded, a column the sample redacts for him cannot
//! be aggregated, bad asks are refused before anything is spent, and his budget runs out after
//! exactly budget/ε answers (403). An aggregator's query across tables adds up their answers.

use super::*;

const AGGREGATES: &str = r#"package dataapi.authz
rule[{"action": {"name": "AggregateOnly", "epsilon": 0.5, "budget": 40}, "policy": "Outsiders get private aggregates"}] {
  input.action.actionType == "read"
  input.resource.metadata.tags.finance
  not input.subject.user == "alice"
}
"#;

impl Gov {
    async fn aggregate(&self, token: &str, query: &str) -> (u16, Value) {
        let r = client()
            .get(format!(
                "{}/alice/paysim/tables/paysim-csv/aggregate?{query}",
                self.api
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(r).await;
        (status, v)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_only_answers_noisy_figures_from_a_budget_and_nothing_else() {
    let gov = Gov::start().await;
    let (status, v) = gov
        .commit_files("steward/policies", &[("aggregates.rego", AGGREGATES)])
        .await;
    assert_eq!(status, 200, "{v}");
    let rows = std::str::from_utf8(PAYSIM).unwrap().lines().count() as f64 - 1.0;

    // bob: no rows, statistics, SQL or bytes; told where aggregates are.
    let bob = gov.bob.clone();
    let (status, text) = gov.table(Some(&bob), "").await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("/tables/paysim-csv/aggregate"), "{text}");
    for path in ["tables/paysim-csv/stats", "tables/paysim-csv/rows"] {
        let r = client()
            .get(format!("{}/alice/paysim/{path}", gov.api))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let r = client()
        .post(format!("{}/api/v1/sql", gov.server.url))
        .bearer_auth(&bob)
        .json(&json!({"query": "SELECT \"type\" FROM \"alice/paysim\".\"paysim-csv\""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("aggregates"));

    // alice: exact, nothing spent.
    let (status, v) = gov.aggregate(&gov.alice, "statistic=count").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["exact"], true);
    assert_eq!(v["value"].as_f64().unwrap(), rows);

    // Bad asks are refused before anything is spent.
    for bad in [
        "",
        "statistic=median",
        "statistic=sum&column=amount",
        "statistic=sum&column=amount&lower=5&upper=1",
        "statistic=histogram&column=amount&lower=0&upper=1&bins=1000",
        "statistic=mean&column=nope&lower=0&upper=1",
        "statistic=sum&column=nameOrig&lower=0&upper=1",
        "statistic=sum&column=oldbalanceOrg&lower=0&upper=1",
        "statistic=count&surprise=1",
        "statistic=sum&column=amount&lower=-1e308&upper=1e308",
    ] {
        let (status, v) = gov.aggregate(&bob, bad).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["request_id"].is_string(), "{v}");
    }

    // An aggregator's query across tables: answers added, a table it cannot reach listed.
    let r = client()
        .post(format!("{}/api/v1/aggregate", gov.server.url))
        .bearer_auth(&bob)
        .json(&json!({"statistic": "count", "tables": [
            {"dataset": "alice/paysim", "resource": "paysim-csv"},
            {"dataset": "alice/paysim", "resource": "paysim-csv"},
            {"dataset": "alice/nothing", "resource": "t"}]}))
        .send()
        .await
        .unwrap();
    let (status, _, all) = body(r).await;
    assert_eq!(status, 200, "{all}");
    let answers: Vec<f64> = all["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["answer"]["value"].as_f64())
        .collect();
    assert_eq!(answers.len(), 2, "{all}");
    assert!((all["value"].as_f64().unwrap() - answers.iter().sum::<f64>()).abs() < 1e-9);
    assert!(all["tables"][2]["error"]["message"].is_string(), "{all}");
    let mut answered = 2;

    // A sum, a mean and a histogram: noisy, bounded, every bin released.
    let (status, v) = gov
        .aggregate(&bob, "statistic=sum&column=amount&lower=0&upper=100000")
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["exact"].as_bool(), v["scale"].as_f64()),
        (Some(false), Some(200_000.0))
    );
    let (status, v) = gov
        .aggregate(&bob, "statistic=mean&column=amount&lower=0&upper=100000")
        .await;
    assert_eq!(status, 200, "{v}");
    let mean = v["value"].as_f64().unwrap();
    assert!((0.0..=100_000.0).contains(&mean), "{v}");
    let (status, v) = gov
        .aggregate(
            &bob,
            "statistic=histogram&column=step&lower=0&upper=10&bins=5",
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["bins"].as_array().unwrap().len(), 5, "{v}");
    answered += 3;

    // Counts: Laplace noise of scale 1/ε = 2. Over 60 draws its mean is near 0, its mean
    // magnitude near 2 and about half of them within 2·ln 2 (the median of |noise|).
    let mut noise = Vec::new();
    for _ in 0..60 {
        let (status, v) = gov.aggregate(&bob, "statistic=count").await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["exact"], false);
        assert_eq!(v["scale"].as_f64(), Some(2.0));
        noise.push(v["value"].as_f64().unwrap() - rows);
        answered += 1;
    }
    let n = noise.len() as f64;
    let mean = noise.iter().sum::<f64>() / n;
    let magnitude = noise.iter().map(|x| x.abs()).sum::<f64>() / n;
    let within = noise.iter().filter(|x| x.abs() < 2.0 * 2f64.ln()).count() as f64 / n;
    // Five standard errors: mean √(2·2²/60) ≈ 0.37, magnitude 2/√60 ≈ 0.26, fraction ≈ 0.065.
    assert!(mean.abs() < 1.85, "mean noise {mean}: {noise:?}");
    assert!(
        (magnitude - 2.0).abs() < 1.3,
        "mean |noise| {magnitude}: {noise:?}"
    );
    assert!(
        (within - 0.5).abs() < 0.33,
        "within the median {within}: {noise:?}"
    );
    assert!(noise.iter().any(|x| x.abs() > 1e-9), "noise is added");

    // The budget: 40 / 0.5 = 80 answers in all, then 403; what is left counts down to 0.
    loop {
        let (status, v) = gov.aggregate(&bob, "statistic=count").await;
        if status == 403 {
            assert!(v["message"].as_str().unwrap().contains("budget"), "{v}");
            break;
        }
        assert_eq!(status, 200, "{v}");
        answered += 1;
        assert!(answered <= 80, "more answers than the budget pays for");
        if answered == 80 {
            assert_eq!(v["remaining"].as_f64(), Some(0.0), "{v}");
        }
    }
    assert_eq!(answered, 80);
    // alice is not bob: her figures stay exact.
    let (status, v) = gov.aggregate(&gov.alice, "statistic=count").await;
    assert_eq!((status, v["exact"].as_bool()), (200, Some(true)));
}
