//! Noisy answers in SQL for a table a policy gives bob aggregates of only (ε 0.5 each, a budget
//! of 200): any other query is refused with the form it must take (GROUP BY, ORDER BY, LIMIT,
//! joins, subqueries in the filter or as the table, bare sums, DISTINCT, other functions,
//! windows, text columns, casts, arithmetic and mixed kinds in the filter, TABLESAMPLE, an alias
//! of the table, `mean`), before anything is spent; `count(*)`, `sum(col, lower, upper)` and
//! `avg(col, lower, upper)` with a row filter answer noisy figures and say what they spent;
//! counts carry Laplace noise of scale 1/ε (checked statistically over 300 queries); the budget
//! pays for exactly budget/ε aggregates, then 403, a query costing more than what is left
//! refused whole. The SQL page shows the same one row.

use super::*;

const POLICY: &str = r#"package dataapi.authz
rule[{"action": {"name": "AggregateOnly", "epsilon": 0.5, "budget": 200}, "policy": "Outsiders get private aggregates"}] {
  input.action.actionType == "read"
  input.resource.metadata.tags.finance
  not input.subject.user == "alice"
}
"#;

const T: &str = r#""alice/paysim"."paysim-csv""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_only_tables_answer_noisy_sql_from_the_budget_and_nothing_else() {
    let gov = Gov::start().await;
    let (status, v) = gov
        .commit_files("steward/policies", &[("aggregates.rego", POLICY)])
        .await;
    assert_eq!(status, 200, "{v}");
    let url = gov.server.url.clone();
    let bob = gov.bob.clone();
    let text = std::str::from_utf8(PAYSIM).unwrap();
    let rows = text.lines().count() as f64 - 1.0;
    let payments: Vec<f64> = text
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("PAYMENT"))
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();

    // Anything but the one form is refused, and costs nothing.
    for bad in [
        format!("SELECT * FROM {T}"),
        format!("SELECT \"type\", count(*) FROM {T} GROUP BY \"type\""),
        format!("SELECT count(*) FROM {T} ORDER BY 1"),
        format!("SELECT count(*) FROM {T} LIMIT 1"),
        format!("WITH x AS (SELECT * FROM {T}) SELECT count(*) FROM x"),
        format!("SELECT count(*) FROM {T} a JOIN {T} b ON a.step = b.step"),
        format!("SELECT count(*) FROM {T} WHERE amount > (SELECT avg(amount) FROM {T})"),
        format!("SELECT count(*) FROM {T} WHERE EXISTS (SELECT 1 FROM {T} WHERE amount > 1e6)"),
        format!("SELECT sum(amount) FROM {T}"),
        format!("SELECT sum(amount, 5, 1) FROM {T}"),
        format!("SELECT sum(amount, 0, 1e300) FROM {T}"),
        format!("SELECT count(DISTINCT \"type\") FROM {T}"),
        format!("SELECT max(amount) FROM {T}"),
        format!("SELECT count(*) OVER () FROM {T}"),
        format!("SELECT count(*) FILTER (WHERE amount > 5) FROM {T}"),
        format!("SELECT count(*) + 1 FROM {T}"),
        format!("SELECT DISTINCT count(*) FROM {T}"),
        format!("SELECT count(*) FROM {T} HAVING count(*) > 5"),
        format!("SELECT count(*) FROM {T} UNION SELECT count(*) FROM {T}"),
        // A subquery as the table, casts, functions, arithmetic, CASE and mixed kinds in the
        // filter: anything that could count something else or fail on a value.
        format!("SELECT count(*) FROM (SELECT * FROM {T} LIMIT 1) s"),
        format!(
            "SELECT count(*) FROM (SELECT unnest(array_repeat(1, CAST(amount AS BIGINT))) AS x FROM {T}) s"
        ),
        format!("SELECT count(*) FROM {T} WHERE CAST(\"nameDest\" AS INT) = 1"),
        format!("SELECT count(*) FROM {T} WHERE length(\"nameDest\") > 3"),
        format!("SELECT count(*) FROM {T} WHERE amount / 0 > 1"),
        format!("SELECT count(*) FROM {T} WHERE CASE WHEN amount > 5 THEN 1 ELSE 0 END = 1"),
        format!("SELECT count(*) FROM {T} WHERE \"nameDest\" = 5"),
        format!("SELECT count(*) FROM {T} WHERE amount > step + 1"),
        // Nothing the form does not name: a sample of the rows, an alias, another aggregate's
        // name.
        format!("SELECT count(*) FROM {T} TABLESAMPLE SYSTEM (50)"),
        format!("SELECT sum(amount, 0, 10000) FROM {T} TABLESAMPLE BERNOULLI (10) REPEATABLE (7)"),
        format!("SELECT count(*) FROM {T} AS t"),
        format!("SELECT mean(amount, 0, 10000) FROM {T}"),
    ] {
        let (status, _, v) = crate::sql::sql(&url, &bob, &bad, json!({})).await;
        assert_eq!(status, 403, "{bad}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains("aggregates of"), "{bad}: {message}");
        assert!(
            message.contains("sum(col, lower, upper)"),
            "{bad}: {message}"
        );
    }
    for (bad, says) in [
        (
            format!("SELECT sum(\"nameOrig\", 0, 1) FROM {T}"),
            "no numbers",
        ),
        (format!("SELECT sum(nope, 0, 1) FROM {T}"), "no column"),
    ] {
        let (status, _, v) = crate::sql::sql(&url, &bob, &bad, json!({})).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{bad}: {v}");
    }

    // The form: noisy figures of the rows the filter keeps, and what they cost.
    let query = format!(
        "SELECT count(*) AS n, sum(amount, 0, 10000) AS s, avg(amount, 0, 10000) AS m \
         FROM {T} WHERE \"type\" = 'PAYMENT' AND (amount BETWEEN -1 AND 1e9 OR amount IS NULL) \
         AND \"nameDest\" NOT IN ('nobody') AND NOT \"nameDest\" LIKE 'Z%'"
    );
    let (status, _, v) = crate::sql::sql(&url, &bob, &query, json!({})).await;
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["n", "s", "m"], "{v}");
    let private = &v["tables"][0]["private"];
    assert_eq!(private["exact"], false, "{v}");
    assert_eq!(private["epsilon"].as_f64(), Some(0.5), "{v}");
    assert_eq!(private["spent"].as_f64(), Some(1.5), "{v}");
    assert_eq!(private["remaining"].as_f64(), Some(198.5), "{v}");
    let answer = &v["rows"][0];
    let m = answer[2].as_f64().unwrap();
    assert!(
        (0.0..=10000.0).contains(&m),
        "a mean within its bounds: {v}"
    );
    let exact_sum: f64 = payments.iter().map(|a| a.clamp(0.0, 10000.0)).sum();
    let s = answer[1].as_f64().unwrap();
    assert!(s != exact_sum, "a sum with noise: {v}");
    // (Scale 10000/0.5: far within twenty scales.)
    assert!((s - exact_sum).abs() < 20.0 * 20000.0, "{s} vs {exact_sum}");

    // Counts: Laplace noise of scale 1/ε = 2; over 300 queries its mean is near 0 and its mean
    // magnitude near 2 (five standard errors: 0.82 and 0.58).
    let count = format!("SELECT count(*) FROM {T}");
    let mut noise = Vec::new();
    for _ in 0..300 {
        let (status, _, v) = crate::sql::sql(&url, &bob, &count, json!({})).await;
        assert_eq!(status, 200, "{v}");
        noise.push(v["rows"][0][0].as_f64().unwrap() - rows);
    }
    let n = noise.len() as f64;
    let mean = noise.iter().sum::<f64>() / n;
    let magnitude = noise.iter().map(|x| x.abs()).sum::<f64>() / n;
    assert!(mean.abs() < 0.82, "mean noise {mean}");
    assert!((magnitude - 2.0).abs() < 0.58, "mean |noise| {magnitude}");

    // The budget: 1.5 + 150 spent; 48.5 left pays for 97 more aggregates (six queries of 16,
    // then one), then nothing; a query costing more than is left is refused whole.
    let sixteen = format!("SELECT {} FROM {T}", vec!["count(*)"; 16].join(", "));
    let mut remaining = 48.5;
    for _ in 0..6 {
        let (status, _, v) = crate::sql::sql(&url, &bob, &sixteen, json!({})).await;
        assert_eq!(status, 200, "{v}");
        remaining -= 8.0;
        assert_eq!(
            v["tables"][0]["private"]["remaining"].as_f64(),
            Some(remaining)
        );
    }
    let (status, _, v) = crate::sql::sql(&url, &bob, &sixteen, json!({})).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("budget"), "{v}");
    let (status, _, v) = crate::sql::sql(&url, &bob, &count, json!({})).await;
    assert_eq!(status, 200, "the refused query spent nothing: {v}");
    assert_eq!(v["tables"][0]["private"]["remaining"].as_f64(), Some(0.0));
    let (status, _, v) = crate::sql::sql(&url, &bob, &count, json!({})).await;
    assert_eq!(status, 403, "{v}");

    // alice reads rows: her SQL is exact, and spends nothing.
    let (status, _, v) = crate::sql::sql(&url, &gov.alice, &count, json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rows"][0][0].as_f64(), Some(rows), "{v}");
    assert!(v["tables"][0].get("private").is_none(), "{v}");
}
