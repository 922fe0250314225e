//! SQL over Arrow Flight SQL through the ADBC driver (`adbc-driver-flightsql`) and pandas: a
//! statement, a prepared statement, values bound to `?`, the catalog calls listing only what the caller may read (and
//! the one table type), the
//! policies (redaction, the intent as a call header), and errors as gRPC statuses.

use crate::common::*;
use serde_json::Value;

use crate::governance::Gov;

const ADBC: &str = r#"
import json, sys
import adbc_driver_flightsql as fs
import adbc_driver_flightsql.dbapi as flight_sql
import pandas as pd
uri, token = sys.argv[1], sys.argv[2]
def connect(intent=None):
    kw = {fs.DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer " + token}
    if intent:
        kw[fs.DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "x-strata-intent"] = intent
    return flight_sql.connect(uri, db_kwargs=kw)
out = {}
with connect() as conn:
    cur = conn.cursor()
    cur.execute('SELECT "type", count(*) AS n FROM "alice/paysim"."paysim-csv" GROUP BY "type" ORDER BY n DESC')
    out["groups"] = cur.fetchall()
    cur.execute('SELECT DISTINCT "nameOrig" FROM "alice/paysim"."paysim-csv"')
    out["redacted"] = cur.fetchall()
    cur.adbc_prepare('SELECT count(*) FROM "alice/paysim@' + sys.argv[3] + '"."paysim-csv" WHERE amount > 1000')
    cur.execute('SELECT count(*) FROM "alice/paysim@' + sys.argv[3] + '"."paysim-csv" WHERE amount > 1000')
    out["prepared"] = cur.fetchall()
    # Values bound to placeholders (Flight SQL's DoPut on a prepared statement), beside the same
    # values written into the query; a guess at a redacted value finds nothing.
    q = 'SELECT count(*) FROM "alice/paysim"."paysim-csv" WHERE amount > {} AND "type" = {}'
    cur.execute(q.format("?", "?"), parameters=(1000, "TRANSFER"))
    out["bound"] = cur.fetchall()
    cur.execute(q.format("1000", "'TRANSFER'"))
    out["written"] = cur.fetchall()
    cur.execute('SELECT count(*) FROM "alice/paysim"."paysim-csv" WHERE "nameOrig" = ?', parameters=("C1231006815",))
    out["guess"] = cur.fetchall()
    try:
        cur.execute('SELECT count(*) FROM "alice/paysim"."paysim-csv" WHERE amount > ?', parameters=("lots",))
        out["unfit"] = cur.fetchall()
    except Exception as e:
        out["unfit"] = type(e).__name__ + ": " + str(e)
    # A statement run without preparing it (Flight SQL's CommandStatementQuery).
    import adbc_driver_manager, pyarrow
    stmt = adbc_driver_manager.AdbcStatement(conn.adbc_connection)
    stmt.set_sql_query('SELECT max(length("nameOrig")) AS m FROM "alice/paysim"."paysim-csv"')
    handle, _ = stmt.execute_query()
    out["statement"] = pyarrow.RecordBatchReader._import_from_c(handle.address).read_all().to_pylist()
    stmt.close()
    df = pd.read_sql('SELECT step, amount, "nameOrig" FROM "alice/paysim"."paysim-csv" ORDER BY amount DESC LIMIT 5', conn)
    out["pandas"] = [len(df), str(df["amount"].dtype), sorted(set(df["nameOrig"]))]
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    out["objects"] = [[c["catalog_name"], s["db_schema_name"], [t["table_name"] for t in s["db_schema_tables"]]]
                      for c in objects for s in c["catalog_db_schemas"]]
    out["schema"] = conn.adbc_get_table_schema("paysim-csv", db_schema_filter="alice/paysim").names
    out["types"] = conn.adbc_get_table_types()
    for name, q in [("syntax", "SELEC 1"), ("missing", 'SELECT * FROM "alice/secret"."t"'), ("ddl", "CREATE TABLE x (a INT)")]:
        try:
            cur.execute(q)
            out[name] = cur.fetchall()
        except Exception as e:
            out[name] = type(e).__name__ + ": " + str(e)
    cur.close()
with connect("marketing") as conn:
    cur = conn.cursor()
    try:
        cur.execute('SELECT count(*) FROM "alice/paysim"."paysim-csv"')
        out["denied"] = cur.fetchall()
    except Exception as e:
        out["denied"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
"#;

const DENY_MARKETING: &str = r#"package dataapi.authz

rule[{"action": {"name": "Deny"}, "policy": "no marketing"}] {
  input.context.intent == "marketing"
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adbc_and_pandas_query_governed_tables_over_flight_sql() {
    let gov = Gov::start().await;
    let (status, v) = gov
        .commit_files("steward/policies", &[("deny.rego", DENY_MARKETING)])
        .await;
    assert_eq!(status, 200, "{v}");
    gov.create("alice", "secret", &gov.alice.clone(), "private")
        .await;
    let head = gov.head("alice/paysim", &gov.alice).await;
    let uri = gov.server.url.replace("http://", "grpc://");
    let python = python_tool("python");
    let bob = gov.bob.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", ADBC, &uri, &bob, &head]))
    })
    .await
    .unwrap();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or(&out);
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["groups"][0][0], "PAYMENT", "{v}");
    let total: u64 = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[1].as_u64().unwrap())
        .sum();
    assert_eq!(total, 100, "{v}");
    assert_eq!(v["redacted"], serde_json::json!([["XXXXXXXXXX"]]), "{v}");
    assert!(v["prepared"][0][0].as_u64().unwrap() > 0, "{v}");
    assert!(v["bound"][0][0].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["bound"], v["written"], "{v}");
    assert_eq!(v["guess"], serde_json::json!([[0]]), "{v}");
    assert!(v["unfit"].as_str().unwrap().contains("parameter $1"), "{v}");
    assert_eq!(v["statement"], serde_json::json!([{"m": 10}]), "{v}");
    assert_eq!(
        v["pandas"],
        serde_json::json!([5, "float64", ["XXXXXXXXXX"]]),
        "{v}"
    );
    // The catalog lists alice's public dataset, not her private one.
    let objects = v["objects"].to_string();
    assert!(
        objects.contains(r#"["strata","alice/paysim",["paysim-csv"]]"#),
        "{v}"
    );
    assert!(!objects.contains("alice/secret"), "{v}");
    assert!(v["schema"].to_string().contains("nameOrig"), "{v}");
    assert_eq!(v["types"], serde_json::json!(["TABLE"]), "{v}");
    assert!(
        v["syntax"].as_str().unwrap().contains("Line: 1, Column: 1"),
        "{v}"
    );
    assert!(v["missing"].as_str().unwrap().contains("no table"), "{v}");
    assert!(
        v["ddl"].as_str().unwrap().contains("only queries run here"),
        "{v}"
    );
    assert!(v["denied"].as_str().unwrap().contains("no table"), "{v}");
    assert!(!v.to_string().contains("C1231006815"), "{v}");
}

const EACH: &str = r#"
import json, sys
import adbc_driver_flightsql as fs
import adbc_driver_flightsql.dbapi as flight_sql
uri, token, asked = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
conns = {}
def conn(intent):
    if intent not in conns:
        kw = {fs.DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer " + token}
        if intent:
            kw[fs.DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "x-strata-intent"] = intent
        conns[intent] = flight_sql.connect(uri, db_kwargs=kw)
    return conns[intent]
out = []
for intent, q in asked:
    cur = conn(intent).cursor()
    try:
        cur.execute(q)
        out.append({"rows": [list(r) for r in cur.fetchall()]})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
    finally:
        cur.close()
for c in conns.values():
    c.close()
print(json.dumps(out, default=str))
"#;

/// Runs each query through the ADBC Flight SQL driver as `token`, with its intent (if any) as
/// the call header: each one's `{"rows": …}`, or `{"error": "…"}`.
pub async fn adbc_each(gov: &Gov, token: &str, asked: &[(Option<&str>, String)]) -> Vec<Value> {
    let uri = gov.server.url.replace("http://", "grpc://");
    let (python, token) = (python_tool("python"), token.to_owned());
    let asked = serde_json::to_string(asked).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", EACH, &uri, &token, &asked]))
    })
    .await
    .unwrap();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('['))
        .unwrap_or(&out);
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"))
}

const FORGED: &str = r#"
import json, sys
import pyarrow.flight as flight
import adbc_driver_flightsql as fs
import adbc_driver_flightsql.dbapi as flight_sql
uri, token = sys.argv[1], sys.argv[2]
def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
def field(num, data):
    return bytes([num << 3 | 2]) + varint(len(data)) + data
def ticket(handle):
    inner = field(1, handle)
    return field(1, b"type.googleapis.com/arrow.flight.protocol.sql.TicketStatementQuery") + field(2, inner)
# Handles a client makes up: values claiming a huge Arrow body, a bad signature, a cut.
forged = [
    b"\x00\x00\x00\x00\x08SELECT 1" + b"\xff\xff\xff\xff" + b"\xff" * 8 + b"\x00" * 32,
    b"\x00\x00\x00\x00\x08SELECT 1" + b"\x00" * 40,
    b"\x00",
]
out = {"errors": []}
options = flight.FlightCallOptions(headers=[(b"authorization", ("Bearer " + token).encode())])
client = flight.FlightClient(uri)
for h in forged:
    try:
        client.do_get(flight.Ticket(ticket(h)), options).read_all()
        out["errors"].append("answered")
    except Exception as e:
        out["errors"].append(type(e).__name__ + ": " + str(e))
# Without credentials, a forged handle is not even read.
try:
    client.do_get(flight.Ticket(ticket(forged[0]))).read_all()
    out["anonymous"] = "answered"
except Exception as e:
    out["anonymous"] = type(e).__name__ + ": " + str(e)
# The server is still there, and a real prepared statement with values still works.
with flight_sql.connect(uri, db_kwargs={fs.DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer " + token}) as conn:
    cur = conn.cursor()
    cur.execute("SELECT ? + 1 AS n", parameters=(41,))
    out["after"] = cur.fetchall()
    try:
        cur.execute('SELECT count(*) FROM "alice/paysim"."paysim-csv" WHERE step = ?', parameters=(2.5,))
        out["lossy"] = cur.fetchall()
    except Exception as e:
        out["lossy"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out, default=str))
"#;

/// Statement handles a client makes up (values claiming a huge Arrow body, a bad signature, a
/// cut) are refused before any of their values are read, a handle with values carrying the
/// server's signature, with or without credentials; the server goes on answering, and a value
/// that would lose its worth in its placeholder's type is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_statement_handles_are_refused_unread() {
    let gov = Gov::start().await;
    let uri = gov.server.url.replace("http://", "grpc://");
    let (python, bob) = (python_tool("python"), gov.bob.clone());
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", FORGED, &uri, &bob]))
    })
    .await
    .unwrap();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or(&out);
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"));
    for e in v["errors"].as_array().unwrap() {
        assert!(
            e.as_str()
                .unwrap()
                .contains("a statement handle this server did not make"),
            "{v}"
        );
    }
    assert!(
        v["anonymous"].as_str().unwrap().contains("did not make"),
        "{v}"
    );
    assert_eq!(v["after"], serde_json::json!([[42]]), "{v}");
    assert!(v["lossy"].as_str().unwrap().contains("parameter $1"), "{v}");
}
