//! Loopback simulators of Silae and Odoo, for PayFlow's tests and demo.

pub mod odoo;
pub mod silae;
pub mod smtp;
