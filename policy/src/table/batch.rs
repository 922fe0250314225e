//! A decision applied to typed Arrow record batches (tables read from Parquet or JSON Lines, where
//! there is no CSV record to work on): rows the filters drop are left out, removed columns are
//! dropped, redacted columns become text `XXXXXXXXXX`, hashed ones the keyed hash of each value's
//! text. Filters and hashes see a value as CSV would hold it (its text; a null is empty), so a
//! table answers the same whatever format it is stored in.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::{Hasher, TableError, REDACTED};
use crate::decision::{ColumnAction, Decision};

/// What to do to each batch of one table.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// Per output column: its source column and what happens to it.
    out: Vec<(usize, Option<ColumnAction>)>,
    /// Per filter: its source column.
    filters: Vec<(usize, crate::decision::Filter)>,
    schema: SchemaRef,
    hasher: Hasher,
}

impl BatchPlan {
    /// The plan for tables of `schema` under `decision`. A policy that names a column the table
    /// lacks refuses the read (the policy cannot be applied), as for CSV.
    pub fn new(
        schema: &Schema,
        decision: &Decision,
        hasher: Hasher,
    ) -> Result<BatchPlan, TableError> {
        let index = |name: &str| schema.index_of(name).ok();
        if let Some(missing) = decision.columns.keys().find(|c| index(c).is_none()) {
            return Err(TableError::Refused(format!(
                "a policy transforms column {missing:?}, which the table does not have, so it cannot be applied"
            )));
        }
        let filters = decision
            .filters
            .iter()
            .map(|f| match index(&f.column) {
                Some(i) => Ok((i, f.clone())),
                None => Err(TableError::Refused(format!(
                    "a policy filters rows on column {:?}, which the table does not have, so \
                     it cannot be applied",
                    f.column
                ))),
            })
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        let mut fields = Vec::new();
        for (i, field) in schema.fields().iter().enumerate() {
            let action = decision.columns.get(field.name()).copied();
            match action {
                Some(ColumnAction::Remove) => continue,
                Some(_) => fields.push(Field::new(field.name(), DataType::Utf8, true)),
                None => fields.push(field.as_ref().clone()),
            }
            out.push((i, action));
        }
        if out.is_empty() {
            return Err(TableError::Invalid(
                "no column is left to serve: the policies remove every one".into(),
            ));
        }
        Ok(BatchPlan {
            out,
            filters,
            schema: Arc::new(Schema::new(fields)),
            hasher,
        })
    }

    /// The schema of what comes out.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// `batch` through the decision; `None` when no row is left.
    pub fn apply(&self, batch: &RecordBatch) -> Result<Option<RecordBatch>, TableError> {
        let batch = if self.filters.is_empty() {
            batch.clone()
        } else {
            let mut keep = vec![true; batch.num_rows()];
            for (i, f) in &self.filters {
                let texts = texts(batch.column(*i))?;
                for (row, k) in keep.iter_mut().enumerate() {
                    *k = *k && f.keeps(&texts[row]);
                }
            }
            arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep))?
        };
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let columns = self
            .out
            .iter()
            .map(|(i, action)| {
                let column = batch.column(*i);
                Ok(match action {
                    None | Some(ColumnAction::Remove) => column.clone(),
                    Some(ColumnAction::Redact) => {
                        Arc::new(StringArray::from(vec![REDACTED; batch.num_rows()])) as ArrayRef
                    }
                    Some(ColumnAction::Hash) => {
                        let hashed: Vec<String> = texts(column)?
                            .iter()
                            .map(|t| self.hasher.hash(t.as_bytes()))
                            .collect();
                        Arc::new(StringArray::from(hashed)) as ArrayRef
                    }
                })
            })
            .collect::<Result<Vec<_>, TableError>>()?;
        Ok(Some(RecordBatch::try_new(self.schema(), columns)?))
    }
}

/// Each value of `column` as text, as CSV would hold it (a null is empty).
fn texts(column: &ArrayRef) -> Result<Vec<String>, TableError> {
    let options = FormatOptions::default().with_null("");
    let f = ArrayFormatter::try_new(column.as_ref(), &options)?;
    Ok((0..column.len()).map(|i| f.value(i).to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array};
    use serde_json::json;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Float64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
                Arc::new(StringArray::from(vec![Some("ann"), Some("bob"), None])),
                Arc::new(Float64Array::from(vec![10.5, 2000.0, 7.0])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn typed_batches_answer_as_csv_does() {
        let decision = Decision::from_rules(&json!([
            {"action": {"name": "RedactAction", "columns": ["name"]}},
            {"action": {"name": "HashAction", "columns": ["id"]}},
            {"action": {"name": "FilterAction", "column": "amount", "op": "<", "value": 1000}},
        ]))
        .unwrap();
        let b = batch();
        let plan = BatchPlan::new(&b.schema(), &decision, Hasher::new(b"k")).unwrap();
        let out = plan.apply(&b).unwrap().unwrap();
        assert_eq!(out.num_rows(), 2);
        let ids = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let h = Hasher::new(b"k");
        assert_eq!(ids.value(0), h.hash(b"1"));
        assert_eq!(ids.value(1), h.hash(b""), "a null hashes as an empty cell");
        let names = out
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(1), REDACTED);
        assert_eq!(out.schema().field(2).data_type(), &DataType::Float64);
    }

    #[test]
    fn removed_and_missing_columns() {
        let b = batch();
        let remove = Decision::from_rules(
            &json!([{"action": {"name": "RemoveAction", "columns": ["name", "id"]}}]),
        )
        .unwrap();
        let plan = BatchPlan::new(&b.schema(), &remove, Hasher::new(b"k")).unwrap();
        assert_eq!(plan.schema().fields().len(), 1);
        let missing = Decision::from_rules(
            &json!([{"action": {"name": "RedactAction", "columns": ["ssn"]}}]),
        )
        .unwrap();
        assert!(matches!(
            BatchPlan::new(&b.schema(), &missing, Hasher::new(b"k")),
            Err(TableError::Refused(_))
        ));
        let none = Decision::from_rules(
            &json!([{"action": {"name": "FilterAction", "column": "amount", "op": ">", "value": 1e9}}]),
        )
        .unwrap();
        let plan = BatchPlan::new(&b.schema(), &none, Hasher::new(b"k")).unwrap();
        assert!(plan.apply(&b).unwrap().is_none());
    }
}
