//! The input a policy sees, in the shape of Fybrik's policy manager (`action`, `resource`,
//! `context`) extended with the subject asking and whether the revision read holds its data
//! contract (`resource.validated`). Tags are objects of flags (`{"PII": true}`);
//! catalogs may write them as lists of names, which [`Tags::from_json`] turns into flags.

use serde::Serialize;
use serde_json::{Map, Value};

/// Tags as policies see them: name → value (usually `true`).
pub type Tags = Map<String, Value>;

/// One column of a resource with its tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    pub tags: Tags,
}

/// What is known about the data being read (`input.resource.metadata`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Metadata {
    /// `ns/name/resource` for a resource of a datapackage, `ns/name` for the dataset itself.
    pub name: String,
    /// `ns/name`.
    pub dataset: String,
    /// The resource's name in the datapackage (absent for the dataset itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geography: Option<String>,
    pub tags: Tags,
    pub columns: Vec<Column>,
}

/// Who asks: a user (with their platform role, their role on the dataset, organisations and
/// teams), or nobody (`user` absent: anonymous callers and share links).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Subject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The platform role, e.g. `["engineer"]`.
    pub roles: Vec<String>,
    /// Organisations the user belongs to.
    pub organizations: Vec<String>,
    /// Teams, as `org/team`.
    pub teams: Vec<String>,
    /// The app whose token asks (its manifest's id), if an app's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The workload that app declares (`intent`, `datasets`, `protocol`): policies see it as
    /// `input.context.workload`, and its intent as `input.context.intent` when the request
    /// names none.
    #[serde(skip)]
    pub workload: Option<Value>,
    /// A Delta Sharing recipient's name, when one reads (`crate::sharing::recipients` in
    /// strata-core): its organisation is in `organizations`, its purpose below.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The purpose a recipient declared: policies see it as `input.context.intent` when the
    /// request names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// The whole input of one decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Input {
    /// `read`, `write`…
    pub action_type: String,
    /// Where the data is processed: the server's region, if it has one.
    pub processing_location: Option<String>,
    pub metadata: Metadata,
    /// Why the caller reads (a request parameter), if they said.
    pub intent: Option<String>,
    pub subject: Subject,
    /// Whether the revision read holds its data contract (checked, and every table kept its
    /// Table Schema): `input.resource.validated`.
    pub validated: bool,
}

impl Input {
    /// The JSON document policies see as `input`.
    pub fn to_json(&self) -> Value {
        let mut action = Map::new();
        action.insert("actionType".into(), Value::from(self.action_type.clone()));
        if let Some(loc) = &self.processing_location {
            action.insert("processingLocation".into(), Value::from(loc.clone()));
        }
        let mut context = Map::new();
        let declared = self
            .subject
            .workload
            .as_ref()
            .and_then(|w| w.get("intent"))
            .and_then(Value::as_str)
            .or(self.subject.purpose.as_deref());
        if let Some(intent) = self.intent.as_deref().or(declared) {
            context.insert("intent".into(), Value::from(intent));
        }
        if let Some(w) = &self.subject.workload {
            context.insert("workload".into(), w.clone());
        }
        serde_json::json!({
            "action": action,
            "resource": { "metadata": self.metadata, "validated": self.validated },
            "context": context,
            "subject": self.subject,
        })
    }
}

/// Reads catalog tags from a datapackage value: an object is taken as it is, a list of strings
/// becomes `{name: true}`, anything else is no tags.
pub fn tags_from_json(value: Option<&Value>) -> Tags {
    match value {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|t| (t.to_owned(), Value::Bool(true)))
            .collect(),
        _ => Tags::new(),
    }
}

impl Column {
    pub fn new(name: impl Into<String>, tags: Tags) -> Column {
        Column {
            name: name.into(),
            tags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_as_lists_or_objects() {
        assert_eq!(
            Value::Object(tags_from_json(Some(&json!(["finance", 3])))),
            json!({"finance": true})
        );
        assert_eq!(
            Value::Object(tags_from_json(Some(&json!({"PII": true, "level": 2})))),
            json!({"PII": true, "level": 2})
        );
        assert!(tags_from_json(Some(&json!("finance"))).is_empty());
    }

    #[test]
    fn input_in_fybriks_shape() {
        let input = Input {
            action_type: "read".into(),
            processing_location: Some("theshire".into()),
            metadata: Metadata {
                name: "a/b/r".into(),
                dataset: "a/b".into(),
                resource: Some("r".into()),
                geography: Some("theshire".into()),
                tags: tags_from_json(Some(&json!(["finance"]))),
                columns: vec![Column::new(
                    "c",
                    tags_from_json(Some(&json!({"PII": true}))),
                )],
            },
            intent: Some("fraud".into()),
            subject: Subject {
                user: Some("alice".into()),
                ..Subject::default()
            },
            validated: true,
        };
        let v = input.to_json();
        assert_eq!(v["action"]["actionType"], "read");
        assert_eq!(v["resource"]["validated"], true);
        assert_eq!(v["action"]["processingLocation"], "theshire");
        assert_eq!(v["resource"]["metadata"]["tags"]["finance"], true);
        assert_eq!(v["resource"]["metadata"]["columns"][0]["tags"]["PII"], true);
        assert_eq!(v["context"]["intent"], "fraud");
        assert_eq!(v["subject"]["user"], "alice");
    }
}
