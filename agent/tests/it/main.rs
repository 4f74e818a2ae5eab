//! The one integration test binary: real loopback simulators, temporary folders, the real
//! agent (in process, or as the built binary for CLI tests).

mod alert;
mod cli;
mod hardening;
mod import;
mod partners;
mod payments;
mod real_odoo;
mod reliability;
mod rpc;
mod rpc_tls;
mod run_due;
mod series;
mod silae_client;
mod silae_shapes;
mod standard;
mod targets;
mod tls;
mod util;
