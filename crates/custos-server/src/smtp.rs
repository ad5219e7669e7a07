//! The SMTP journaling listener: a mail server copies every message to custos (as Exchange and Google journaling do); each is acknowledged (250) only once durable.
