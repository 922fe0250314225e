//! Git hosting with the stock clients: REST and git together, push checks, big pushes through NGINX.

mod hosting;
mod push;
mod transport;
