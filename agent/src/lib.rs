//! PayFlow's agent: moves Silae payroll journals into Odoo, exactly once. See ARCHITECTURE.md.

pub mod accounts;
pub mod agent;
pub mod alert;
pub mod cli;
pub mod config;
pub mod import;
pub mod journal;
pub mod money;
pub mod odoo;
pub mod outcome;
pub mod partners;
pub mod payments;
pub mod period;
pub mod retry;
pub mod rpc;
pub mod run;
pub mod schedule;
pub mod secrets;
pub mod silae;
pub mod store;
pub mod summary;
pub mod tls;
pub mod winservice;
