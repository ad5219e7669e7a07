//! End-to-end tests of the `custos` binary: one test binary, one module
//! per area, each driving real processes on real data directories.

mod cli;
mod cluster;
mod common;
mod deliveries;
mod demo;
mod faults;
mod governance;
mod import_actiance;
mod import_email;
mod import_rsmf;
mod import_slack;
mod import_teams;
mod ops;
mod redaction;
mod retention;
mod search;
mod serve;
mod state;
mod supervision;
mod users;
mod whatsapp_export;
mod worm;
mod worm_s3;
