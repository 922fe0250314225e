-- Finding whether an object of a dataset is one of its xorbs (what strata chunks skips them).
CREATE INDEX xet_xorbs_by_oid ON xet_xorbs (repo_id, oid);
