//! Events delivered, on top of the datasets floor: the dispatcher that completes each event the
//! outbox (`crate::events`) holds and fans it out ([`start`]), the webhooks it is sent to, signed
//! the Standard Webhooks way and retried with backoff ([`webhooks`]), as OpenLineage RunEvents for the webhooks that ask
//! (`lineage`), the people it tells
//! ([`notify`]) and the live event stream ([`stream`]). Who may see an event is the read gate's
//! decision (`crate::datasets::gate`).
//!
//! May use: the foundation (`datasets`) and everything below it. Not the other rooms on its floor.

mod deliver;
mod dispatch;
mod lineage;
pub mod notify;
pub mod stream;
pub mod webhooks;

pub use deliver::{new_secret, sign};
pub use dispatch::start;
