//! Operations: probes and metrics, slow and hostile clients, secrets kept out of logs, the Helm chart.

mod chart;
mod hygiene;
mod log_secrets;
mod probes;
