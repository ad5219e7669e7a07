//! The server over real HTTP on loopback, against local servers speaking
//! the third parties' documented APIs: one test binary, one module per area.

mod console;
mod governance;
mod media;
mod outbound;
mod supervision;
mod twilio;
mod webhook;
