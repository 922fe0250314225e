//! The keyed merge when the three sides are already in key order (the usual case: tables are
//! written sorted by their key): the three text views are read side by side, each once, and
//! merge-joined as they stream, with no grouping and no sort. What comes out is exactly what
//! the merge query ([`super::rows`]) would produce for the same rows, in the same order (key
//! order, numbers as numbers), batch by batch, so the same code reads both.
//!
//! Each side is read twice. First to find its rows out of key order (a row added in the middle
//! with a new key, say), which are set aside and sorted; past [`ASIDE`] of them the merge
//! query takes over. Then the merge: each side's rows in file order, less those set aside,
//! merged with those set aside, and the three merge-joined. A key twice in a side is refused
//! as the query refuses it.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Array, Int64Builder, StringArray,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures_util::StreamExt;

use super::marks::{Shape, CELL, CLASH, MERGED, N, ST};
use crate::error::{Error, Result};
use crate::tables::rows::quoted;

/// Rows per batch out.
const BATCH: usize = 8192;

/// The sides' tags, as `prepare` registers them.
const TAGS: [&str; 3] = ["b", "o", "t"];

/// Rows out of key order a side may set aside (their text, about), past which the merge
/// query takes over.
const ASIDE: usize = 32 << 20;

/// What each side sets aside to be read in key order, when every side can be: `None` when one
/// cannot (too many rows out of order) and the query must group and sort.
pub(super) async fn plan(ctx: &SessionContext, shape: &Shape) -> Result<Option<Vec<Aside>>> {
    if shape.key.is_empty() {
        return Ok(None);
    }
    let mut plan = Vec::new();
    for tag in TAGS {
        match aside(ctx, shape, tag).await? {
            Some(a) => plan.push(a),
            None => return Ok(None),
        }
    }
    Ok(Some(plan))
}

/// One side's rows out of key order: their places in the side (in order) and the rows, sorted.
/// A row goes aside when it is not above the last row kept in order (it came late), or when it
/// is above the next row while that one fits in order (it came early); the rest, kept in file
/// order, strictly increase.
pub(super) struct Aside {
    places: Vec<u64>,
    rows: Vec<Row>,
}

async fn aside(ctx: &SessionContext, shape: &Shape, tag: &str) -> Result<Option<Aside>> {
    let key = shape.key.len();
    let mut stream = execute(ctx, &side_sql(ctx, shape, tag).await?).await?;
    let (mut places, mut rows, mut bytes) = (Vec::new(), Vec::new(), 0usize);
    let mut last: Option<(Arc<Batch>, usize)> = None;
    let mut pending: Option<(Arc<Batch>, usize, u64)> = None;
    let mut place = 0u64;
    let mut judge = |p: (Arc<Batch>, usize, u64),
                     next: Option<At<'_>>,
                     last: &mut Option<(Arc<Batch>, usize)>|
     -> bool {
        let here = At::Batch(&p.0, p.1);
        let late = last
            .as_ref()
            .is_some_and(|(b, i)| compare(&here, &At::Batch(b, *i), key) != Ordering::Greater);
        let early = !late
            && next.as_ref().is_some_and(|n| {
                compare(&here, n, key) != Ordering::Less
                    && last.as_ref().is_none_or(|(b, i)| {
                        compare(n, &At::Batch(b, *i), key) == Ordering::Greater
                    })
            });
        if late || early {
            let row = here.owned(shape.columns.len(), key);
            bytes += row.bytes();
            places.push(p.2);
            rows.push(row);
        } else {
            *last = Some((p.0, p.1));
        }
        bytes <= ASIDE
    };
    while let Some(b) = stream.next().await {
        let b = Arc::new(Batch::of(&b.map_err(super::rows::merge_error)?, shape)?);
        for i in 0..b.len {
            if let Some(p) = pending.take() {
                if !judge(p, Some(At::Batch(&b, i)), &mut last) {
                    return Ok(None);
                }
            }
            pending = Some((b.clone(), i, place));
            place += 1;
        }
    }
    if let Some(p) = pending.take() {
        if !judge(p, None, &mut last) {
            return Ok(None);
        }
    }
    rows.sort_by(|a, b| compare(&At::Row(a), &At::Row(b), key));
    Ok(Some(Aside { places, rows }))
}

/// A side's rows: every merged column as text (absent ones null), then the key's ordering
/// columns.
async fn side_sql(ctx: &SessionContext, shape: &Shape, tag: &str) -> Result<String> {
    let present: Vec<String> = ctx
        .table(tag)
        .await
        .map_err(super::rows::merge_error)?
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let cols: Vec<String> = shape
        .columns
        .iter()
        .map(|c| match present.contains(c) {
            true => format!("CAST({0} AS VARCHAR) AS {0}", quoted(c)),
            false => format!("CAST(NULL AS VARCHAR) AS {}", quoted(c)),
        })
        .chain(order_columns(shape))
        .collect();
    Ok(format!("SELECT {} FROM {tag}", cols.join(", ")))
}

/// The columns that order rows: per key column, its number (or null) and its text.
fn order_columns(shape: &Shape) -> Vec<String> {
    shape
        .key
        .iter()
        .enumerate()
        .flat_map(|(j, k)| {
            [
                format!(
                    "try_cast({} AS DOUBLE) AS {}",
                    quoted(k),
                    quoted(&format!("\u{1}kn{j}"))
                ),
                format!(
                    "CAST({} AS VARCHAR) AS {}",
                    quoted(k),
                    quoted(&format!("\u{1}kt{j}"))
                ),
            ]
        })
        .collect()
}

async fn execute(ctx: &SessionContext, sql: &str) -> Result<SendableRecordBatchStream> {
    ctx.sql(sql)
        .await
        .map_err(super::rows::merge_error)?
        .execute_stream()
        .await
        .map_err(super::rows::merge_error)
}

fn cast(a: &ArrayRef, ty: &DataType) -> Result<ArrayRef> {
    datafusion::arrow::compute::cast(a, ty)
        .map_err(|e| Error::internal(format!("the merge's rows: {e}")))
}

/// A batch of one side: the merged columns as text, and per key column its number and text.
struct Batch {
    cells: Vec<StringArray>,
    keys: Vec<(Float64Array, StringArray)>,
    len: usize,
}

impl Batch {
    fn of(b: &RecordBatch, shape: &Shape) -> Result<Batch> {
        let n = shape.columns.len();
        let text = |c: usize| {
            Ok(cast(b.column(c), &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        };
        Ok(Batch {
            cells: (0..n).map(text).collect::<Result<_>>()?,
            keys: (0..shape.key.len())
                .map(|j| {
                    let num = cast(b.column(n + 2 * j), &DataType::Float64)?;
                    Ok((num.as_primitive().clone(), text(n + 2 * j + 1)?))
                })
                .collect::<Result<_>>()?,
            len: b.num_rows(),
        })
    }
}

/// A row set aside, owned.
struct Row {
    key: Vec<(Option<f64>, Option<String>)>,
    cells: Vec<Option<String>>,
}

impl Row {
    fn bytes(&self) -> usize {
        64 + self
            .cells
            .iter()
            .chain(self.key.iter().map(|(_, t)| t))
            .map(|c| 24 + c.as_ref().map_or(0, String::len))
            .sum::<usize>()
    }
}

/// A row where it is: in a batch, or set aside.
enum At<'a> {
    Batch(&'a Batch, usize),
    Row(&'a Row),
}

impl At<'_> {
    fn part(&self, j: usize) -> (Option<f64>, Option<&str>) {
        match self {
            At::Batch(b, i) => {
                let (n, t) = &b.keys[j];
                (
                    (!n.is_null(*i)).then(|| n.value(*i)),
                    (!t.is_null(*i)).then(|| t.value(*i)),
                )
            }
            At::Row(r) => (r.key[j].0, r.key[j].1.as_deref()),
        }
    }

    fn cell(&self, c: usize) -> Option<&str> {
        match self {
            At::Batch(b, i) => (!b.cells[c].is_null(*i)).then(|| b.cells[c].value(*i)),
            At::Row(r) => r.cells[c].as_deref(),
        }
    }

    fn owned(&self, columns: usize, key: usize) -> Row {
        Row {
            key: (0..key)
                .map(|j| {
                    let (n, t) = self.part(j);
                    (n, t.map(str::to_owned))
                })
                .collect(),
            cells: (0..columns)
                .map(|c| self.cell(c).map(str::to_owned))
                .collect(),
        }
    }
}

/// The merge's order of one key column: the number first (nulls last), then the text (nulls
/// last) — `try_cast(k AS DOUBLE) NULLS LAST, k` as the query sorts.
fn compare_part(a: (Option<f64>, Option<&str>), b: (Option<f64>, Option<&str>)) -> Ordering {
    let last = |x: bool, y: bool| x.cmp(&y);
    match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (x, y) => last(x.is_none(), y.is_none()),
    }
    .then_with(|| match (a.1, b.1) {
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        (x, y) => last(x.is_none(), y.is_none()),
    })
}

fn compare(a: &At<'_>, b: &At<'_>, key: usize) -> Ordering {
    (0..key)
        .map(|j| compare_part(a.part(j), b.part(j)))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// One side read in key order: its rows in file order, less those set aside, merged with
/// those set aside.
struct Side {
    stream: SendableRecordBatchStream,
    batch: Option<Batch>,
    row: usize,
    /// The place in the side of the batch's current row.
    place: u64,
    aside: Aside,
    /// The next of `aside.places` to skip, and the next of its rows to merge in.
    skip: usize,
    next: usize,
    /// Which side this is (0 base, 1 target, 2 source), for errors.
    which: usize,
}

impl Side {
    /// Puts the batch on its next row in order (none: `batch` is `None`).
    async fn ready(&mut self, shape: &Shape) -> Result<()> {
        loop {
            if self.batch.as_ref().is_none_or(|b| self.row == b.len) {
                match self.stream.next().await {
                    Some(b) => {
                        self.batch = Some(Batch::of(&b.map_err(super::rows::merge_error)?, shape)?);
                        self.row = 0;
                        continue;
                    }
                    None => {
                        self.batch = None;
                        return Ok(());
                    }
                }
            }
            if self.aside.places.get(self.skip) == Some(&self.place) {
                self.skip += 1;
                self.row += 1;
                self.place += 1;
                continue;
            }
            return Ok(());
        }
    }

    /// The side's next row in key order, and whether it is the batch's.
    fn head(&self, shape: &Shape) -> Result<Option<(At<'_>, bool)>> {
        let main = self.batch.as_ref().map(|b| At::Batch(b, self.row));
        let aside = self.aside.rows.get(self.next).map(At::Row);
        Ok(match (main, aside) {
            (Some(m), Some(a)) => match compare(&m, &a, shape.key.len()) {
                Ordering::Less => Some((m, true)),
                Ordering::Greater => Some((a, false)),
                Ordering::Equal => return Err(not_unique(shape, self.which)),
            },
            (Some(m), None) => Some((m, true)),
            (None, Some(a)) => Some((a, false)),
            (None, None) => None,
        })
    }

    fn advance(&mut self, main: bool) {
        if main {
            self.row += 1;
            self.place += 1;
        } else {
            self.next += 1;
        }
    }
}

fn not_unique(shape: &Shape, side: usize) -> Error {
    // The key's values are not quoted: whoever reads this may not read the table.
    Error::unprocessable(format!(
        "the primaryKey {} is not unique in {}: rows are matched on it, so it must be",
        shape.key.join(", "),
        ["the base", "the target", "the source"][side]
    ))
}

/// The merge of three sides in key order, as batches of the merge query's rows.
pub(super) struct Sorted {
    sides: [Side; 3],
    shape: Shape,
    /// Where the key columns and the other (cell) columns are among the merged columns.
    keys: Vec<usize>,
    cells: Vec<usize>,
    schema: SchemaRef,
    done: bool,
}

impl Sorted {
    /// The merge of the sides `prepare` registered, with what [`plan`] set aside. Rows the merge
    /// drops (state `d`) do not come out: they hold no clash, and they are not written.
    pub(super) async fn start(
        ctx: &SessionContext,
        shape: &Shape,
        plan: Vec<Aside>,
    ) -> Result<Sorted> {
        let mut sides = Vec::new();
        for (which, (tag, aside)) in TAGS.into_iter().zip(plan).enumerate() {
            sides.push(Side {
                stream: execute(ctx, &side_sql(ctx, shape, tag).await?).await?,
                batch: None,
                row: 0,
                place: 0,
                aside,
                skip: 0,
                next: 0,
                which,
            });
        }
        let sides: [Side; 3] = sides
            .try_into()
            .map_err(|_| Error::internal("three sides"))?;
        let keys: Vec<usize> = shape
            .key
            .iter()
            .filter_map(|k| shape.columns.iter().position(|c| c == k))
            .collect();
        let cells: Vec<usize> = (0..shape.columns.len())
            .filter(|i| !keys.contains(i))
            .collect();
        let mut fields: Vec<Field> = shape
            .key
            .iter()
            .map(|k| Field::new(k, DataType::Utf8, true))
            .collect();
        for &c in &cells {
            let name = &shape.columns[c];
            for prefix in CELL.iter().chain([&MERGED]) {
                fields.push(Field::new(format!("{prefix}{name}"), DataType::Utf8, true));
            }
            fields.push(Field::new(
                format!("{CLASH}{name}"),
                DataType::Boolean,
                false,
            ));
        }
        for n in N {
            fields.push(Field::new(n, DataType::Int64, false));
        }
        fields.push(Field::new(ST, DataType::Utf8, false));
        Ok(Sorted {
            sides,
            shape: shape.clone(),
            keys,
            cells,
            schema: Arc::new(Schema::new(fields)),
            done: false,
        })
    }

    /// The next batch of merged rows; `None` at the end.
    pub(super) async fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.done {
            return None;
        }
        match self.batch().await {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    async fn batch(&mut self) -> Result<Option<RecordBatch>> {
        let key = self.shape.key.len();
        let mut out = Out::new(self.keys.len(), self.cells.len());
        while out.rows < BATCH {
            for side in &mut self.sides {
                side.ready(&self.shape).await?;
            }
            let [b, o, t] = &self.sides;
            let heads = [
                b.head(&self.shape)?,
                o.head(&self.shape)?,
                t.head(&self.shape)?,
            ];
            // The smallest key among the sides' next rows, and who has it.
            let mut least: Option<usize> = None;
            for (s, h) in heads.iter().enumerate() {
                if let Some((at, _)) = h {
                    if least.is_none_or(|l| {
                        compare(at, &heads[l].as_ref().expect("a head").0, key) == Ordering::Less
                    }) {
                        least = Some(s);
                    }
                }
            }
            let Some(least) = least else { break };
            let lead = &heads[least].as_ref().expect("a head").0;
            let at: [Option<&At<'_>>; 3] = std::array::from_fn(|s| {
                heads[s]
                    .as_ref()
                    .map(|(a, _)| a)
                    .filter(|a| compare(a, lead, key) == Ordering::Equal)
            });
            row(&self.keys, &self.cells, &at, lead, &mut out);
            let moved: [Option<bool>; 3] =
                std::array::from_fn(|s| at[s].and(heads[s].as_ref().map(|(_, main)| *main)));
            for (side, main) in self.sides.iter_mut().zip(moved) {
                if let Some(main) = main {
                    side.advance(main);
                }
            }
        }
        if out.rows == 0 {
            return Ok(None);
        }
        out.finish(&self.schema).map(Some)
    }
}

/// One key's row out: each side's cells, the merged cells, the clashes and the state, as the
/// merge query works them out.
fn row(keys: &[usize], cells: &[usize], at: &[Option<&At<'_>>; 3], lead: &At<'_>, out: &mut Out) {
    let value = |s: usize, c: usize| at[s].and_then(|a| a.cell(c));
    let changed = |s: usize, c: usize| value(s, c) != value(0, c);
    let any = |s: usize| cells.iter().any(|&c| changed(s, c));
    let state = match at.map(|a| a.is_some()) {
        [_, true, true] => "k",
        [true, true, false] => match any(1) {
            true => "x",
            false => "d",
        },
        [true, false, true] => match any(2) {
            true => "x",
            false => "d",
        },
        [true, false, false] => "d",
        _ => "k",
    };
    if state == "d" {
        return;
    }
    for (j, &k) in keys.iter().enumerate() {
        out.keys[j].append_option(lead.cell(k));
    }
    for (j, &c) in cells.iter().enumerate() {
        let b = &mut out.cells[j];
        for s in 0..3 {
            b.sides[s].append_option(value(s, c));
        }
        let (o, t) = (changed(1, c), changed(2, c));
        b.merged
            .append_option(if o { value(1, c) } else { value(2, c) });
        b.clash.append_value(o && t && value(1, c) != value(2, c));
    }
    for (count, at) in out.counts.iter_mut().zip(at) {
        count.append_value(i64::from(at.is_some()));
    }
    out.state.append_value(state);
    out.rows += 1;
}

/// A batch being built.
struct Out {
    rows: usize,
    keys: Vec<StringBuilder>,
    cells: Vec<CellsOut>,
    counts: [Int64Builder; 3],
    state: StringBuilder,
}

struct CellsOut {
    sides: [StringBuilder; 3],
    merged: StringBuilder,
    clash: BooleanBuilder,
}

impl Out {
    fn new(keys: usize, cells: usize) -> Out {
        Out {
            rows: 0,
            keys: (0..keys).map(|_| StringBuilder::new()).collect(),
            cells: (0..cells)
                .map(|_| CellsOut {
                    sides: std::array::from_fn(|_| StringBuilder::new()),
                    merged: StringBuilder::new(),
                    clash: BooleanBuilder::new(),
                })
                .collect(),
            counts: std::array::from_fn(|_| Int64Builder::new()),
            state: StringBuilder::new(),
        }
    }

    fn finish(mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = self
            .keys
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        for c in &mut self.cells {
            for s in &mut c.sides {
                arrays.push(Arc::new(s.finish()));
            }
            arrays.push(Arc::new(c.merged.finish()));
            arrays.push(Arc::new(c.clash.finish()));
        }
        for n in &mut self.counts {
            arrays.push(Arc::new(n.finish()));
        }
        arrays.push(Arc::new(self.state.finish()));
        RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| Error::internal(format!("the merged rows: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::datasource::MemTable;

    #[test]
    fn numbers_sort_as_numbers_then_text_nulls_last() {
        let p = |n: Option<f64>, t: Option<&'static str>| (n, t);
        let less = [
            (p(Some(9.0), Some("9")), p(Some(10.0), Some("10"))),
            (p(Some(1.0), Some("1")), p(Some(1.0), Some("1.0"))),
            (p(Some(5.0), Some("5")), p(None, Some("a"))),
            (p(None, Some("b")), p(None, None)),
        ];
        for (a, b) in less {
            assert_eq!(compare_part(a, b), Ordering::Less, "{a:?} < {b:?}");
            assert_eq!(compare_part(b, a), Ordering::Greater, "{b:?} > {a:?}");
        }
        let a = p(None, Some("a"));
        assert_eq!(compare_part(a, a), Ordering::Equal);
    }

    /// A small deterministic generator.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    type Side = (Vec<&'static str>, Vec<Vec<Option<String>>>);

    /// One side: `columns` (the key first), its rows' keys from `keys`, cells from a few values
    /// (so sides agree and differ often), in key order with some rows moved, or shuffled.
    fn side(g: &mut Lcg, columns: Vec<&'static str>, keys: &[Option<String>]) -> Side {
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        for k in keys {
            if g.next(5) == 0 {
                continue;
            }
            let mut row = vec![k.clone()];
            for _ in 1..columns.len() {
                row.push(match g.next(4) {
                    0 => None,
                    v => Some(format!("{v}")),
                });
            }
            rows.push(row);
        }
        match g.next(3) {
            0 => {}
            1 => {
                for _ in 0..g.next(4) {
                    let (a, b) = (g.next(rows.len() as u64), g.next(rows.len() as u64));
                    let r = rows.remove(a as usize);
                    rows.insert(b as usize, r);
                }
            }
            _ => {
                for i in (1..rows.len()).rev() {
                    rows.swap(i, g.next(i as u64 + 1) as usize);
                }
            }
        }
        (columns, rows)
    }

    fn table(side: &Side) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(
            side.0
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = (0..side.0.len())
            .map(|c| {
                Arc::new(StringArray::from(
                    side.1.iter().map(|r| r[c].clone()).collect::<Vec<_>>(),
                )) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
    }

    /// Each batch's rows as text, in the columns of `names`.
    fn rows(batches: &[RecordBatch], names: &[String]) -> Vec<Vec<Option<String>>> {
        let mut out = Vec::new();
        for b in batches {
            let cols: Vec<ArrayRef> = names
                .iter()
                .map(|n| cast(b.column_by_name(n).expect(n), &DataType::Utf8).unwrap())
                .collect();
            for i in 0..b.num_rows() {
                out.push(
                    cols.iter()
                        .map(|a| {
                            let a = a.as_string::<i32>();
                            (!a.is_null(i)).then(|| a.value(i).to_owned())
                        })
                        .collect(),
                );
            }
        }
        out
    }

    /// Sides in key order (or nearly, or not at all), with columns added and removed, keys
    /// numeric, textual and null: merge-joined as they stream, they give the merge query's rows,
    /// in its order.
    #[tokio::test]
    async fn the_merge_join_gives_the_query_s_rows() {
        let mut g = Lcg(11);
        for round in 0..30 {
            let keys: Vec<Option<String>> = (0..40)
                .map(|i| match i {
                    0 => None,
                    i if i % 7 == 0 => Some(format!("k{i}")),
                    // The number of the key before, written another way.
                    i if i % 13 == 0 => Some(format!("{}.0", (i - 1) * 3)),
                    i => Some(format!("{}", i * 3)),
                })
                .collect();
            let b = side(&mut g, vec!["id", "a", "b"], &keys);
            let o = side(&mut g, vec!["id", "a", "b", "c"], &keys);
            let t = side(&mut g, vec!["id", "a", "d"], &keys);
            let mut config = datafusion::prelude::SessionConfig::new().with_target_partitions(1);
            config.options_mut().sql_parser.enable_ident_normalization = false;
            let ctx = SessionContext::new_with_config(config);
            for (name, s) in [("b", &b), ("o", &o), ("t", &t)] {
                ctx.register_table(name, table(s)).unwrap();
            }
            let shape = super::super::rows::stack(&ctx, &["id".to_owned()])
                .await
                .unwrap();
            let q = super::super::rows::Query { shape: &shape };
            let sql = format!(
                "SELECT * FROM ({}) WHERE {} <> 'd' ORDER BY {}",
                q.keyed(),
                quoted(ST),
                q.order()
            );
            let want = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let plan = plan(&ctx, &shape).await.unwrap().expect("a plan");
            let mut merged = Sorted::start(&ctx, &shape, plan).await.unwrap();
            let mut got = Vec::new();
            while let Some(b) = merged.next().await {
                got.push(b.unwrap());
            }
            let names: Vec<String> = merged
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(
                rows(&got, &names),
                rows(&want, &names),
                "round {round}: {names:?}"
            );
        }
    }

    /// A key twice in a side is refused, as the query refuses it.
    #[tokio::test]
    async fn a_key_twice_is_refused() {
        let key = |k: &str| vec![Some(k.to_owned()), Some("v".to_owned())];
        let once: Side = (vec!["id", "a"], vec![key("1"), key("2"), key("3")]);
        let twice: Side = (
            vec!["id", "a"],
            vec![key("1"), key("3"), key("2"), key("3")],
        );
        let ctx = SessionContext::new();
        for (name, s) in [("b", &once), ("o", &twice), ("t", &once)] {
            ctx.register_table(name, table(s)).unwrap();
        }
        let shape = super::super::rows::stack(&ctx, &["id".to_owned()])
            .await
            .unwrap();
        let plan = plan(&ctx, &shape).await.unwrap().expect("a plan");
        let mut merged = Sorted::start(&ctx, &shape, plan).await.unwrap();
        let mut error = None;
        while let Some(b) = merged.next().await {
            if let Err(e) = b {
                error = Some(e);
            }
        }
        let e = error.expect("refused");
        assert!(
            e.message.contains("not unique in the target"),
            "{}",
            e.message
        );
    }
}
