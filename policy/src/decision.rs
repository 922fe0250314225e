//! A policy decision: what the rules of `data.dataapi.authz.rule` said, combined. Deny wins; per
//! column, Remove beats Redact beats Hash; row filters combine with AND. An action strata does not
//! know, or one it cannot read, is an error, and the caller fails closed on errors.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// What happens to one column, weakest first (so `max` is the combination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ColumnAction {
    /// Salted sha256 of the value (HMAC-SHA256 under the server's key): equal values stay equal,
    /// so joins still work.
    Hash,
    /// The value becomes `XXXXXXXXXX`.
    Redact,
    /// The column is dropped.
    Remove,
}

impl ColumnAction {
    pub fn name(self) -> &'static str {
        match self {
            ColumnAction::Hash => "HashAction",
            ColumnAction::Redact => "RedactAction",
            ColumnAction::Remove => "RemoveAction",
        }
    }
}

/// A comparison of a row filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" | "==" | "=" => Op::Eq,
            "ne" | "!=" => Op::Ne,
            "lt" | "<" => Op::Lt,
            "le" | "<=" => Op::Le,
            "gt" | ">" => Op::Gt,
            "ge" | ">=" => Op::Ge,
            "in" => Op::In,
            "not_in" | "notin" => Op::NotIn,
            _ => return None,
        })
    }
}

/// Keep only rows whose `column` compares with `value` by `op`. A number compares numerically, a
/// string as text, a boolean with `true`/`false`; `in` and `not_in` take a list. A cell that
/// cannot be compared (text where a number is wanted) fails the filter: the row is left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub value: Value,
}

impl Filter {
    /// A filter as policies (and Delta Sharing shares) write it: `{"column", "op", "value"}`,
    /// `op` one of `eq` (the default), `ne`, `lt`, `le`, `gt`, `ge`, `in`, `not_in`.
    pub fn parse(v: &Value) -> Result<Filter, String> {
        let o = v
            .as_object()
            .ok_or_else(|| format!("a filter must be an object, not {v}"))?;
        let column = o
            .get("column")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a filter needs a \"column\": {v}"))?
            .to_owned();
        let op_name = o.get("op").and_then(Value::as_str).unwrap_or("eq");
        let op = Op::parse(op_name).ok_or_else(|| {
            format!("unknown filter op {op_name:?} (eq, ne, lt, le, gt, ge, in, not_in)")
        })?;
        let value = o
            .get("value")
            .cloned()
            .ok_or_else(|| format!("a filter needs a \"value\": {v}"))?;
        let scalar = |v: &Value| v.is_number() || v.is_string() || v.is_boolean();
        let ok = match op {
            Op::In | Op::NotIn => value.as_array().is_some_and(|l| l.iter().all(scalar)),
            Op::Eq | Op::Ne => scalar(&value),
            _ => value.is_number() || value.is_string(),
        };
        if !ok {
            return Err(format!("filter value {value} does not fit op {op_name:?}"));
        }
        Ok(Filter { column, op, value })
    }

    /// Whether a row whose `column` holds `cell` is kept.
    pub fn keeps(&self, cell: &str) -> bool {
        match self.op {
            Op::In => self
                .list()
                .any(|v| compare(cell, v) == Some(std::cmp::Ordering::Equal)),
            Op::NotIn => self.list().all(|v| {
                let c = compare(cell, v);
                c.is_some() && c != Some(std::cmp::Ordering::Equal)
            }),
            op => compare(cell, &self.value).is_some_and(|o| match op {
                Op::Eq => o.is_eq(),
                Op::Ne => o.is_ne(),
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                _ => o.is_ge(),
            }),
        }
    }

    fn list(&self) -> impl Iterator<Item = &Value> {
        self.value.as_array().into_iter().flatten()
    }
}

/// `cell` compared with `value`, or `None` when they cannot be compared.
fn compare(cell: &str, value: &Value) -> Option<std::cmp::Ordering> {
    match value {
        Value::Number(n) => {
            let (a, b) = (cell.trim().parse::<f64>().ok()?, n.as_f64()?);
            a.partial_cmp(&b)
        }
        Value::String(s) => Some(cell.cmp(s.as_str())),
        Value::Bool(b) => match cell.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true.cmp(b)),
            "false" => Some(false.cmp(b)),
            _ => None,
        },
        _ => None,
    }
}

/// `AggregateOnly`: no rows are read, only differentially private aggregates, each costing
/// `epsilon` of a `budget` kept per subject and dataset. Several rules: the smallest of each.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AggregateOnly {
    pub epsilon: f64,
    pub budget: f64,
}

impl AggregateOnly {
    fn parse(props: &Map<String, Value>) -> Result<AggregateOnly, String> {
        // Budgets are kept in millionths: ε and the budget are at least one.
        let positive = |key: &str| {
            props
                .get(key)
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite() && *v >= 1e-6 && *v <= 1e6)
                .ok_or_else(|| {
                    format!("AggregateOnly needs a number {key:?} from 0.000001 to 1000000")
                })
        };
        Ok(AggregateOnly {
            epsilon: positive("epsilon")?,
            budget: positive("budget")?,
        })
    }
}

/// The combined decision of every rule that fired.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Decision {
    /// The descriptions of the rules that denied (empty: not denied).
    pub deny: Vec<String>,
    /// What happens to each named column.
    pub columns: BTreeMap<String, ColumnAction>,
    /// Rows must pass all of these.
    pub filters: Vec<Filter>,
    /// Only noisy aggregates may be read (then every read of rows or bytes is denied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<AggregateOnly>,
    /// The description of every rule that fired, in order.
    pub policies: Vec<String>,
    /// Why the policies could not decide (then the read is denied); for the audit log only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Decision {
    /// Combines the rules a policy produced: a set (a JSON list) of
    /// `{"action": {"name": …, …}, "policy": "…"}`. Fybrik's formatted shape, with the
    /// properties under the action's name (`{"name": "RedactAction", "RedactAction": {…}}`), is
    /// read too.
    pub fn from_rules(rules: &Value) -> Result<Decision, String> {
        let list: &[Value] = match rules {
            Value::Null => &[],
            Value::Array(l) => l,
            other => return Err(format!("the policy's rule must be a set, not {other}")),
        };
        let mut d = Decision::default();
        for rule in list {
            // `rule[{}] { false }` (Fybrik's declaration) never fires; an empty object that does
            // says nothing.
            if rule.as_object().is_some_and(Map::is_empty) {
                continue;
            }
            let action = rule
                .get("action")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("a rule needs an \"action\" object: {rule}"))?;
            let name = action
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("an action needs a \"name\": {rule}"))?;
            let mut props = action.clone();
            if let Some(Value::Object(inner)) = action.get(name) {
                props.extend(inner.clone());
            }
            let policy = rule
                .get("policy")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned();
            match name {
                "Deny" => d.deny.push(policy.clone()),
                "RedactAction" | "RemoveAction" | "HashAction" => {
                    let act = match name {
                        "RedactAction" => ColumnAction::Redact,
                        "RemoveAction" => ColumnAction::Remove,
                        _ => ColumnAction::Hash,
                    };
                    let columns = props
                        .get("columns")
                        .and_then(Value::as_array)
                        .ok_or_else(|| format!("{name} needs a \"columns\" list: {rule}"))?;
                    for c in columns {
                        let c = c
                            .as_str()
                            .ok_or_else(|| format!("{name}: column names are strings: {rule}"))?;
                        let slot = d.columns.entry(c.to_owned()).or_insert(act);
                        *slot = (*slot).max(act);
                    }
                }
                "FilterAction" => match props.get("filters") {
                    Some(Value::Array(list)) => {
                        for f in list {
                            d.filters.push(Filter::parse(f)?);
                        }
                    }
                    Some(other) => {
                        return Err(format!("FilterAction's filters must be a list: {other}"))
                    }
                    None => d
                        .filters
                        .push(Filter::parse(&Value::Object(props.clone()))?),
                },
                "AggregateOnly" => {
                    let a = AggregateOnly::parse(&props)?;
                    d.aggregate = Some(match d.aggregate {
                        Some(b) => AggregateOnly {
                            epsilon: a.epsilon.min(b.epsilon),
                            budget: a.budget.min(b.budget),
                        },
                        None => a,
                    });
                }
                other => {
                    return Err(format!(
                        "unknown action {other:?} (strata knows Deny, RedactAction, RemoveAction, \
                         HashAction, FilterAction and AggregateOnly)"
                    ))
                }
            }
            d.policies.push(policy);
        }
        Ok(d)
    }

    /// Whether rows and bytes may not be read: a rule denied the read, or allows aggregates only.
    pub fn denied(&self) -> bool {
        !self.deny.is_empty() || self.aggregate.is_some()
    }

    /// Whether the data must be transformed on its way out (so its raw bytes may not be served).
    pub fn transforms(&self) -> bool {
        !self.columns.is_empty() || !self.filters.is_empty()
    }

    /// What this decision has that `other` does not: its denials, column actions, filters and
    /// policies not in `other` (an error of either stays). Aggregates are for reads only.
    pub fn beyond(self, other: &Decision) -> Decision {
        Decision {
            deny: self
                .deny
                .into_iter()
                .filter(|d| !other.deny.contains(d))
                .collect(),
            columns: self
                .columns
                .into_iter()
                .filter(|(c, a)| other.columns.get(c) != Some(a))
                .collect(),
            filters: self
                .filters
                .into_iter()
                .filter(|f| !other.filters.contains(f))
                .collect(),
            aggregate: None,
            policies: self
                .policies
                .into_iter()
                .filter(|p| !other.policies.contains(p))
                .collect(),
            error: self.error.or_else(|| other.error.clone()),
        }
    }

    /// A failed evaluation: fail closed.
    pub fn failed(why: &str) -> Decision {
        Decision {
            deny: vec!["the policies could not decide".into()],
            error: Some(why.to_owned()),
            ..Decision::default()
        }
    }

    /// The decision for the audit log.
    pub fn to_audit(&self) -> Value {
        let columns: Map<String, Value> = self
            .columns
            .iter()
            .map(|(c, a)| (c.clone(), Value::from(a.name())))
            .collect();
        json!({
            "deny": self.deny,
            "columns": columns,
            "filters": self.filters,
            "aggregate": self.aggregate,
            "policies": self.policies,
            "error": self.error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_and_remove_beats_redact_beats_hash() {
        let d = Decision::from_rules(&json!([
            {"action": {"name": "HashAction", "columns": ["a", "b", "c"]}, "policy": "h"},
            {"action": {"name": "RedactAction", "columns": ["b", "c"]}, "policy": "r"},
            {"action": {"name": "RemoveAction", "columns": ["c"]}, "policy": "x"},
        ]))
        .unwrap();
        assert_eq!(d.columns["a"], ColumnAction::Hash);
        assert_eq!(d.columns["b"], ColumnAction::Redact);
        assert_eq!(d.columns["c"], ColumnAction::Remove);
        assert!(!d.denied() && d.transforms());
        assert_eq!(d.policies, ["h", "r", "x"]);
        let d = Decision::from_rules(&json!([
            {"action": {"name": "Deny"}, "policy": "no"},
            {"action": {"name": "RedactAction", "columns": ["b"]}},
        ]))
        .unwrap();
        assert!(d.denied());
        assert_eq!(d.deny, ["no"]);
    }

    #[test]
    fn aggregate_only_denies_rows_and_keeps_the_smallest_epsilon_and_budget() {
        let d = Decision::from_rules(&json!([
            {"action": {"name": "AggregateOnly", "epsilon": 0.5, "budget": 10}, "policy": "a"},
            {"action": {"name": "AggregateOnly", "AggregateOnly": {"epsilon": 1, "budget": 2}}},
        ]))
        .unwrap();
        assert!(d.denied() && d.deny.is_empty());
        assert_eq!(
            d.aggregate,
            Some(AggregateOnly {
                epsilon: 0.5,
                budget: 2.0
            })
        );
        for bad in [
            json!([{"action": {"name": "AggregateOnly", "budget": 1}}]),
            json!([{"action": {"name": "AggregateOnly", "epsilon": 0, "budget": 1}}]),
            json!([{"action": {"name": "AggregateOnly", "epsilon": "1", "budget": 1}}]),
        ] {
            assert!(Decision::from_rules(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn beyond_keeps_what_only_one_decision_has() {
        let write = Decision::from_rules(&json!([
            {"action": {"name": "RedactAction", "columns": ["a", "b"]}, "policy": "w"},
            {"action": {"name": "Deny"}, "policy": "frozen"},
            {"action": {"name": "HashAction", "columns": ["c"]}, "policy": "any"},
        ]))
        .unwrap();
        let any = Decision::from_rules(&json!([
            {"action": {"name": "HashAction", "columns": ["c"]}, "policy": "any"},
        ]))
        .unwrap();
        let d = write.beyond(&any);
        assert_eq!(d.deny, ["frozen"]);
        assert_eq!(d.columns.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d.policies, ["w", "frozen"]);
        assert_eq!(any.clone().beyond(&any), Decision::default());
    }

    #[test]
    fn fybriks_formatted_shape_and_empty_rules() {
        let d = Decision::from_rules(&json!([
            {},
            {"action": {"name": "RedactAction", "RedactAction": {"columns": ["x"]}}, "policy": "p"},
        ]))
        .unwrap();
        assert_eq!(d.columns["x"], ColumnAction::Redact);
        assert_eq!(
            Decision::from_rules(&Value::Null).unwrap(),
            Decision::default()
        );
    }

    #[test]
    fn unknown_or_malformed_actions_are_errors() {
        for bad in [
            json!([{"action": {"name": "Teleport"}}]),
            json!([{"action": {"name": "RedactAction"}}]),
            json!([{"action": {"name": "RedactAction", "columns": [1]}}]),
            json!([{"action": "Deny"}]),
            json!([{"action": {"name": "FilterAction", "column": "a", "op": "like", "value": 1}}]),
            json!([{"action": {"name": "FilterAction", "column": "a", "op": "in", "value": 1}}]),
            json!({"not": "a set"}),
        ] {
            assert!(Decision::from_rules(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_compare_numbers_text_and_lists() {
        let d = Decision::from_rules(&json!([
            {"action": {"name": "FilterAction", "filters": [
                {"column": "amount", "op": "<=", "value": 1000},
                {"column": "type", "op": "in", "value": ["PAYMENT", "DEBIT"]},
            ]}},
            {"action": {"name": "FilterAction", "column": "flag", "value": false}},
        ]))
        .unwrap();
        let [amount, kind, flag] = &d.filters[..] else {
            panic!("{:?}", d.filters)
        };
        assert!(amount.keeps("999.5") && amount.keeps("1000") && !amount.keeps("1000.01"));
        assert!(
            !amount.keeps("lots"),
            "text where a number is wanted leaves the row out"
        );
        assert!(kind.keeps("PAYMENT") && !kind.keeps("TRANSFER"));
        assert!(flag.keeps("False") && !flag.keeps("true") && !flag.keeps("maybe"));
        let not_in =
            Filter::parse(&json!({"column": "c", "op": "not_in", "value": [1, 2]})).unwrap();
        assert!(not_in.keeps("3") && !not_in.keeps("2") && !not_in.keeps("x"));
    }
}
