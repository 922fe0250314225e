//! Several strata on one database: the SQL ref ledger, and replicas behind NGINX (PostgreSQL phase).

mod cluster;
mod ledger;
