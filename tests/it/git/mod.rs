//! Git hosting with the stock clients: REST and git together, push checks, big pushes through NGINX,
//! strata's own files on every write path and writes that change nothing.

mod hosting;
mod push;
mod transport;
mod writes;
