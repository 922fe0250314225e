-- Refs in SQL (`--refs sql`, for several replicas): the ledger is the authority for the refs of
-- the datasets it took over (one row in ref_ledger_datasets each), and every ref update is a
-- compare-and-swap on ref_ledger (`UPDATE … WHERE oid = old`). The repositories' own ref files
-- follow it as a cache. Rows are keyed by the dataset's path (`ns/name`) and removed with it.
CREATE TABLE ref_ledger_datasets (
    dataset TEXT PRIMARY KEY
);
CREATE TABLE ref_ledger (
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    oid TEXT NOT NULL,
    PRIMARY KEY (dataset, name)
);
