//! `row_digest(c1, c2, …)`: a 16-byte digest of a row's values, for telling rows apart without
//! carrying them. The values are encoded by Arrow's row format (type-exact, nulls distinct from
//! any value, no two rows the same bytes) and hashed with SHA-256, so two rows share a digest
//! only if their values are the same (no one can make two rows collide on purpose).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryArray, BinaryBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sha2::Digest;

/// The function's name in SQL.
pub const NAME: &str = "row_digest";

/// Bytes of the digest kept.
const KEPT: usize = 16;

/// The function, to register on a session.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(RowDigest {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RowDigest {
    signature: Signature,
}

impl ScalarUDFImpl for RowDigest {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.is_empty() {
            return exec_err!("{NAME} needs at least one value");
        }
        let columns: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|v| v.to_array(args.number_rows))
            .collect::<Result<_>>()?;
        Ok(ColumnarValue::Array(Arc::new(digests(&columns)?)))
    }
}

/// The digest of each row of `columns` (all of one length), as the function computes it.
pub(super) fn digests(columns: &[ArrayRef]) -> Result<BinaryArray> {
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let rows = RowConverter::new(fields)
        .and_then(|c| c.convert_columns(columns))
        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
    let mut out = BinaryBuilder::with_capacity(rows.num_rows(), rows.num_rows() * KEPT);
    for row in rows.iter() {
        let hash = sha2::Sha256::digest(row.as_ref());
        out.append_value(&hash[..KEPT]);
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn digests(sql: &str) -> Vec<Option<Vec<u8>>> {
        let ctx = SessionContext::new();
        ctx.register_udf(udf());
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for b in batches {
            let a = b
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::BinaryArray>()
                .unwrap();
            out.extend(a.iter().map(|v| v.map(<[u8]>::to_vec)));
        }
        out
    }

    #[tokio::test]
    async fn equal_rows_share_a_digest_and_others_do_not() {
        let d = digests(
            "SELECT row_digest(a, b) FROM (VALUES ('x', 1), ('x', 1), ('x', NULL), ('', NULL), \
             (NULL, NULL), ('x', 2)) AS t(a, b)",
        )
        .await;
        assert_eq!(d[0], d[1]);
        assert!(d.iter().all(|v| v.as_ref().map(Vec::len) == Some(KEPT)));
        for (i, x) in d.iter().enumerate().skip(1) {
            for y in &d[i + 1..] {
                assert_ne!(x, y);
            }
        }
        // A boundary between values is part of the row: ('ab', 'c') is not ('a', 'bc').
        let d =
            digests("SELECT row_digest(a, b) FROM (VALUES ('ab', 'c'), ('a', 'bc')) AS t(a, b)")
                .await;
        assert_ne!(d[0], d[1]);
    }
}
